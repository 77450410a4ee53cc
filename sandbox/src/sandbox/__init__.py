"""The outside world Propfee talks to, faked faithfully, for the demo, the tests and the
benchmarks: payment gateways (:mod:`sandbox.wechatpay`, :mod:`sandbox.alipay`,
:mod:`sandbox.unionpay`) and message providers (:mod:`sandbox.sms` Alibaba and Tencent,
:mod:`sandbox.wechat`, :mod:`sandbox.push`, :mod:`sandbox.smtp`), each a real server speaking
the provider's wire protocol with real signatures, written from the providers' documentation
independently of the services' adapters. :class:`Sandbox` is the demo's whole world on one port;
the tests serve one fake at a time (:class:`sandbox.server.ThreadServer`)."""

from sandbox.keys import FILES, Credentials
from sandbox.server import SandboxProcess, ThreadServer, free_port
from sandbox.world import CHANNELS, PROVIDERS, Sandbox

__all__ = [
    "CHANNELS",
    "FILES",
    "PROVIDERS",
    "Credentials",
    "Sandbox",
    "SandboxProcess",
    "ThreadServer",
    "free_port",
]

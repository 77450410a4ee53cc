"""``nginx -t`` on the console's rendered nginx configuration (ConfigMap propfee-console).

The ConfigMap's files are written to a temporary directory, its paths (/etc/nginx/conf.d)
pointed there and the api Services' names (not resolvable here) replaced by 127.0.0.1; a
minimal main configuration like nginx-unprivileged's includes them in its ``http`` block.

    python nginx_test.py path/to/nginx rendered.yaml ...

Exit status 1 when nginx refuses a configuration; 0 (with a note) when none is rendered.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

MAIN = """\
pid {dir}/nginx.pid;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    types {{ text/html html; application/javascript js; text/css css; }}
    default_type application/octet-stream;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_temp;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    include {dir}/conf.d/*.conf;
}}
"""


def main(argv: list[str]) -> int:
    nginx, *files = argv
    checked = failed = 0
    for name in files:
        for doc in yaml.safe_load_all(Path(name).read_text()):
            if (
                not doc
                or doc["kind"] != "ConfigMap"
                or doc["metadata"]["name"] != "propfee-console"
            ):
                continue
            with tempfile.TemporaryDirectory() as tmp:
                conf_d = Path(tmp) / "conf.d"
                conf_d.mkdir()
                for key, text in doc["data"].items():
                    text = text.replace("/etc/nginx/conf.d", str(conf_d))
                    text = re.sub(r"server [a-z0-9.-]+\.svc:", "server 127.0.0.1:", text)
                    (conf_d / key).write_text(text)
                (Path(tmp) / "nginx.conf").write_text(MAIN.format(dir=tmp))
                result = subprocess.run(
                    [nginx, "-t", "-q", "-p", tmp, "-e", "stderr", "-c", f"{tmp}/nginx.conf"],
                    capture_output=True,
                    text=True,
                )
                checked += 1
                if result.returncode != 0:
                    failed += 1
                    print(f"{name}: nginx -t failed:\n{result.stderr}", file=sys.stderr)
    print(f"nginx -t: {checked - failed}/{checked} console configurations accepted")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

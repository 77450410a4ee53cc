#!/usr/bin/env bash
# Debian packages the services and the tests need beyond Python (run by `make sync`):
#   fonts-wqy-zenhei  the Chinese TrueType font every PDF embeds (propfee.pdf_fonts)
#   poppler-utils     pdftotext / pdffonts: the document tests read the PDFs back
#   chromium          the browser the console's tests drive (Playwright, headless; never
#                     `playwright install`: Debian's build at /usr/bin/chromium)
#   fonts-noto-cjk    Chinese glyphs in that browser (the console is zh-CN first)
# Installs what is missing when run as root with apt-get; otherwise says what to install.
set -euo pipefail

missing=()
[[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || -n ${PROPFEE_CJK_FONT:-} ]] ||
    missing+=(fonts-wqy-zenhei)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
[[ -x /usr/bin/chromium || -n ${PROPFEE_CHROMIUM:-} ]] || missing+=(chromium)
[[ -d /usr/share/fonts/opentype/noto ]] || missing+=(fonts-noto-cjk)
((${#missing[@]})) || exit 0

if ((EUID == 0)) && command -v apt-get >/dev/null 2>&1; then
    echo "os-packages: installing ${missing[*]} from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null 2>&1 ||
        { apt-get update -qq </dev/null && apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null; }
else
    echo "os-packages: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# The build stage of docker/python-3-slim: everything the image holds is made here, then the
# Dockerfile copies the finished filesystem into one layer (FROM scratch), so what this script
# deletes from the base is really gone from the image, not hidden under a whiteout.
#   build-debian-slim.sh <build context>   (the context holds wheelhouse/ and common/)
set -euo pipefail
CONTEXT=${1:?build context}
export DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# 1. The Python environment at /usr/local, as in the official python images: a plugin's
#    `pip install .` writes its bin script to /usr/local/bin/<plugin bin>, the ENTRYPOINT plugin
#    Dockerfiles use. A base whose Python lives elsewhere (Debian's /usr/bin/python3, as in the
#    debootstrap stand-in CI uses) gets a virtual environment at /usr/local; the Debian packages
#    that only exist to create one are purged afterwards, with Debian's separately packaged
#    distutils and lib2to3 (setuptools in the environment provides distutils, and nothing runs
#    2to3).
if [ "$(python3 -c 'import sys; print(sys.prefix)')" != "/usr/local" ]; then
  python3 -m venv /usr/local
  # (dpkg-query exits 1 when a named package is unknown to the base, e.g. on newer Debian)
  installed=$({ dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'python3*-venv' python3-pip-whl \
    python3-setuptools-whl python3-distutils python3-lib2to3 2>/dev/null || true; } | awk '/^ii/ {print $2}')
  # shellcheck disable=SC2086 # one word per package
  [ -z "$installed" ] || dpkg --purge $installed >/dev/null
fi
python -m pip install --no-index --no-compile --find-links "$CONTEXT/wheelhouse" -r "$CONTEXT/wheelhouse/requirements.txt"
read -r purelib stdlib < <(python -c 'import sysconfig; p = sysconfig.get_paths(); print(p["purelib"], p["stdlib"])')
# setuptools for the plugin Dockerfiles that run `python setup.py build && python setup.py install`:
# a venv on Python 3.11 has it, the official images of Python 3.12+ do not.
python -c 'import setuptools' 2>/dev/null \
  || python -m pip install --no-index --no-compile --find-links "$CONTEXT/wheelhouse" -r "$CONTEXT/wheelhouse/setuptools.txt"
# Plugins' setup.py require `insightconnect-plugin-runtime`: that name is registered as provided
# here, so `pip install .` never fetches the reference over it (common/register_reference_name.py).
python "$CONTEXT/common/register_reference_name.py"

# 2. Smaller Python files, same behaviour: botocore data without docstring prose, gzip-compressed
#    (docker/common/slim_botocore_data.py), and bytecode only for what the start paths import (docker/common/hot_bytecode.py).
python "$CONTEXT/common/slim_botocore_data.py"
python "$CONTEXT/common/hot_bytecode.py" "$purelib" "$stdlib"

# 3. The runtime's user and container layout (docker/README.md, "Container layout").
groupadd --gid 1000 icon
useradd --uid 1000 --gid icon --home-dir /home/icon --create-home --shell /usr/sbin/nologin icon
mkdir -p /python/src /workspace/cache /workspace/tmp /var/cache/lock
chown -R icon:icon /python/src /workspace /var/cache
chmod 1777 /workspace /workspace/cache /workspace/tmp /var/cache /var/cache/lock

# 4. Debian's "slim" rules, for the files already installed and for the packages plugins add
#    later with apt-get: no documentation except the copyright files, no manual pages, no
#    translations. The official debian:*-slim images apply the same dpkg path excludes; a
#    stand-in base made with debootstrap does not, so they are applied here to either. Beyond
#    debian:*-slim: glibc's iconv tables for encodings other than Unicode and Western European.
cat >/etc/dpkg/dpkg.cfg.d/icon-runtime-slim <<EOF
# icon-runtime slim image: keep documentation, manual pages and translations out (as debian:*-slim)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
# glibc's iconv modules: only the Unicode and Western European ones (see docker/README.md)
path-exclude /usr/lib/*/gconv/*.so
path-include /usr/lib/*/gconv/UTF*.so
path-include /usr/lib/*/gconv/UNICODE.so
path-include /usr/lib/*/gconv/ISO8859-*.so
path-include /usr/lib/*/gconv/CP125*.so
# Python's help() topics and CPython's regression-test support
path-exclude $stdlib/pydoc_data/*
path-exclude $stdlib/test/*
EOF
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/groff/* /usr/share/info/* /usr/share/lintian /usr/share/linda
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
# Python's codecs never use glibc's iconv; C libraries that do keep the common encodings, and an
# unknown one fails as unsupported. The CJK and EBCDIC tables are 7 MB of the 8.
find /usr/lib/*/gconv -name '*.so' ! -name 'UTF*' ! -name UNICODE.so ! -name 'ISO8859-*' ! -name 'CP125*' -delete
# Nor does a container check file systems: e2fsprogs and the libraries only it uses.
unused=$({ dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' e2fsprogs logsave 'libext2fs2*' libss2 2>/dev/null || true; } \
  | awk '/^ii/ {print $2}')
# shellcheck disable=SC2086 # one word per package
[ -z "$unused" ] || dpkg --purge --force-remove-essential $unused >/dev/null 2>&1 || dpkg --purge $unused >/dev/null
# Python's help() topics and CPython's own regression-test support: read by nothing at run time.
rm -rf "$stdlib/pydoc_data" "$stdlib/test"
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
  /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt /var/log/dpkg.log /var/log/alternatives.log \
  /root/.cache /tmp/* 2>/dev/null || true

# 5. It still works: every distribution imports (bytecode present or not).
python -c "import insightconnect_plugin_runtime, insightconnect_plugin_runtime.server, insightconnect_plugin_runtime.helper, insightconnect_plugin_runtime.telemetry, insightconnect_plugin_runtime.clients.aws_client"

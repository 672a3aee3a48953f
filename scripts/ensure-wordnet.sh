#!/usr/bin/env bash
# The meteor metric reads WordNet 3.0 offline from Debian's wordnet-base (never nltk.download).
set -euo pipefail
if [ -f /usr/share/wordnet/data.noun ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's wordnet-base for the meteor metric…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null
fi
[ -f /usr/share/wordnet/data.noun ] || { echo "error: /usr/share/wordnet is missing: apt-get install wordnet-base" >&2; exit 1; }

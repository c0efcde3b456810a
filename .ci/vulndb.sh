#!/usr/bin/env bash
# Builds an offline copy of the Go vulnerability database for govulncheck.
#
# Why: govulncheck normally downloads its data from https://vuln.go.dev,
# which CI cannot reach. CI can reach the Go module proxy, and the proxy
# serves golang.org/x/vulndb, whose module zip holds every report as an OSV
# file (data/osv/*.json). This script downloads one pinned version of that
# module and turns the OSV files into the directory layout govulncheck reads
# with -db file://DIR (index/db.json, index/modules.json, ID/<GO-ID>.json).
# The conversion is done by .ci/vulndb/main.go (standard library only).
#
# Usage:  bash .ci/vulndb.sh DIR
#         govulncheck -db "file://$(realpath DIR)" ./...
# DIR is replaced if it already holds a database built by this script.
# On success the only output is one line: "vulndb: N entries".
#
# To get newer data, change VULNDB_VERSION to a newer version of
# golang.org/x/vulndb (`go list -m golang.org/x/vulndb@master` prints one).
set -euo pipefail

VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi

# Resolve DIR to an absolute path before changing directory.
out=$1
case $out in /*) ;; *) out=$PWD/$out ;; esac
out=${out%/}
if [ -z "$out" ] || [ "$out" = "$PWD" ]; then
  echo "vulndb: refusing to use $1 as the output directory" >&2
  exit 1
fi

# A directory we are allowed to replace: absent, empty, or a database
# that this script wrote earlier. Anything else is left alone.
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ] && [ ! -f "$out/index/modules.json" ]; then
  echo "vulndb: $out exists and is not a vulnerability database; not touching it" >&2
  exit 1
fi

root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/.vulndb.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. Download the module into the module cache. This runs in a throwaway
# module inside the temporary directory (GOFLAGS and GOWORK cleared), so the
# project's go.mod and go.sum are neither read nor changed.
printf 'module vulndb.download\n' >"$work/go.mod"
if ! (cd "$work" && GOFLAGS= GOWORK=off GO111MODULE=on \
      go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION") >"$work/download.json" 2>"$work/log"; then
  cat "$work/download.json" "$work/log" >&2
  echo "vulndb: failed: go mod download golang.org/x/vulndb@$VULNDB_VERSION" >&2
  exit 1
fi

# 2. Build the database in a fresh directory next to DIR. go run's own
# output is only shown if it fails.
if ! (cd "$root" && go run ./.ci/vulndb -download "$work/download.json" -out "$work/db") >"$work/summary" 2>"$work/log"; then
  cat "$work/log" >&2
  echo "vulndb: failed: go run ./.ci/vulndb" >&2
  exit 1
fi

# 3. Swap it into place only once it is complete.
rm -rf "$out"
mv "$work/db" "$out"
cat "$work/summary"

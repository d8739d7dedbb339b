#!/usr/bin/env bash
# Prints the kustomize build of config/default with the manager's image set to $1. The image
# is set in a copy of config/, so the tree is left as it was.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 IMAGE" >&2
	exit 2
fi
kustomize=${KUSTOMIZE:-bin/kustomize}
kustomize=$(cd "$(dirname "$kustomize")" && pwd)/$(basename "$kustomize")

copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -R config "$copy/"
(cd "$copy/config/default" && "$kustomize" edit set image "vpp-operator=$1")
"$kustomize" build "$copy/config/default"

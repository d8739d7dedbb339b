#!/usr/bin/env bash
# Prints the kustomize build of config/default with the manager's image set to $1. The image
# is set in a copy of config/, so the tree is left as it was.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# KUSTOMIZE may be relative to where the script was started; the default is the pinned one.
kustomize=${KUSTOMIZE:-$root/bin/kustomize}
kustomize=$(cd "$(dirname "$kustomize")" && pwd)/$(basename "$kustomize")
cd "$root"

if [ "$#" -ne 1 ]; then
	echo "usage: $0 IMAGE" >&2
	exit 2
fi
# A registry host (and port), a lower-case repository path, then a tag, a digest or both: what a
# container runtime accepts. A reference without either would keep config/manager's tag.
reference='^([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*'
reference+='((:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[a-f0-9]{64})?|@sha256:[a-f0-9]{64})$'
if ! [[ $1 =~ $reference ]]; then
	echo "IMG='$1' is not an image reference with a tag or digest, such as" \
		"registry.example/vpp-operator:1.0.0 or registry.example/vpp-operator@sha256:<64 hex digits>" >&2
	exit 2
fi

copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -R config "$copy/"
(cd "$copy/config/default" && "$kustomize" edit set image "vpp-operator=$1")
"$kustomize" build "$copy/config/default"

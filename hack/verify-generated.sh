#!/usr/bin/env bash
# Fails when the generated DeepCopy code, CRD or RBAC manifests differ from what
# the markers produce, or the Helm chart's copies of them and of the alerts differ
# from their sources. It regenerates them in place, so after a failure the tree
# holds the right files and `git diff` shows what to commit.
set -euo pipefail
cd "$(dirname "$0")/.."

# The whole chart is compared: regenerating touches only its generated files, and so also
# finds a copied CRD whose source is gone.
generated=(api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml
	config/rbac/workload-identity/role.yaml config/helm/vpp-operator)
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
for f in "${generated[@]}"; do
	if [ -e "$f" ]; then
		mkdir -p "$before/$(dirname "$f")"
		cp -r "$f" "$before/$f"
	fi
done

make --no-print-directory -s generate manifests

status=0
for f in "${generated[@]}"; do
	if ! diff -ruN "$before/$f" "$f" >/dev/null; then
		echo "generated file out of date: $f" >&2
		diff -ruN "$before/$f" "$f" >&2 || true
		status=1
	fi
done
if [ "$status" -ne 0 ]; then
	echo "run 'make generate manifests' and commit the result" >&2
fi
exit "$status"

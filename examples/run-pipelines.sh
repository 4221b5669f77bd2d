#!/usr/bin/env bash
# Runs several pipelines one by one and acts on sluice's exit status:
#   0 all stored · 3 some targets failed, others stored · 2 config error · 1 failure
# Usage: run-pipelines.sh CONFIG PIPELINE...
# Prunes a pipeline only when its run fully succeeded, and exits non-zero
# if anything needs attention. Replace notify with mail, a webhook, etc.
set -uo pipefail
config=${1:?usage: run-pipelines.sh CONFIG PIPELINE...}
shift
sluice=${SLUICE:-sluice}
notify() { echo "run-pipelines: $*" >&2; }

status=0
for p in "$@"; do
	"$sluice" --config "$config" run "$p" >>"${SLUICE_URL_LOG:-/dev/null}"
	rc=$?
	case $rc in
	0)
		"$sluice" --config "$config" prune "$p" || { notify "$p: prune failed"; status=1; }
		;;
	3)
		notify "$p: stored, but some targets failed; not pruning"
		status=1
		;;
	2)
		notify "$p: config error; fix the config (sluice config validate)"
		status=2
		;;
	*)
		notify "$p: backup failed (exit $rc)"
		status=1
		;;
	esac
done
exit $status

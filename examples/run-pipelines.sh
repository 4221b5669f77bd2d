#!/usr/bin/env bash
# Runs several pipelines one by one, prunes each one that fully succeeded,
# and exits with the most severe status seen, so cron or systemd can act:
#   2 a config error (fix the config: sluice config validate)
#   1 a backup or a prune failed
#   3 some targets failed while others stored the backup (not pruned)
#   0 everything stored, and pruned where the pipeline declares retention
# A config error outranks a failure (it will not go away on the next run),
# a failure outranks a partial store. Every pipeline is tried whatever
# happened to the ones before it.
# A pipeline without a retention policy is not pruned: sluice prune refuses
# it (exit 2, "no retention policy"), which this script recognises and
# does not count as an error.
# Usage: run-pipelines.sh CONFIG PIPELINE...
# SLUICE names the sluice binary (default: sluice on PATH); SLUICE_URL_LOG
# is a file the stored URLs (sluice's stdout) are appended to.
# Replace notify with mail, a webhook, etc.
set -uo pipefail
config=${1:?usage: run-pipelines.sh CONFIG PIPELINE...}
shift
sluice=${SLUICE:-sluice}
notify() { echo "run-pipelines: $*" >&2; }

status=0
# raise STATUS keeps STATUS if it is more severe than the status so far.
severity() { case $1 in 0) echo 0 ;; 3) echo 1 ;; 1) echo 2 ;; 2) echo 3 ;; esac; }
raise() {
	if (($(severity "$1") > $(severity "$status"))); then
		status=$1
	fi
}

for p in "$@"; do
	"$sluice" --config "$config" run "$p" >>"${SLUICE_URL_LOG:-/dev/null}"
	rc=$?
	case $rc in
	0) ;;
	3)
		notify "$p: stored, but some targets failed; not pruning"
		raise 3
		continue
		;;
	2)
		notify "$p: config error; fix the config (sluice config validate)"
		raise 2
		continue
		;;
	*)
		notify "$p: backup failed (exit $rc)"
		raise 1
		continue
		;;
	esac
	# prune reports on stderr only; keep its lines, but hide the refusal
	# of a pipeline that declares no retention.
	out=$("$sluice" --config "$config" prune "$p" 2>&1)
	rc=$?
	if ((rc == 2)) && [[ $out == *"no retention policy"* ]]; then
		continue
	fi
	[[ -n $out ]] && printf '%s\n' "$out" >&2
	case $rc in
	0) ;;
	2)
		notify "$p: prune: config error"
		raise 2
		;;
	*)
		notify "$p: prune failed (exit $rc)"
		raise 1
		;;
	esac
done
exit $status

#!/usr/bin/env bash
# The protocol-v3 grids (issue 28): run or resume them from a worktree of ONE main commit, and harvest their
# finished points into main. Usage, from the main checkout:
#   benchmarks/grids_v3.sh run [COMMIT]    # worktree ../grid3 at COMMIT (default: the one recorded below)
#   benchmarks/grids_v3.sh harvest         # copy finished points into results/grids-v3/ and commit them
# Environment: CASES (default: chi polymer_density), THREADS (torch threads per point, default 1).
# A rerun skips finished points; an interrupted one loses only the point in flight. See results/grids-v3/README.md.
set -euo pipefail
MAIN=$(cd "$(dirname "$0")/.." && pwd)
WT=${GRID3_WORKTREE:-$MAIN/../grid3}
# The commit every v3 point after the first 21 runs on (the first 21 ran on 63cb8e6, a commit lost with its
# branch; results/grids-v3/README.md gives the bit-for-bit check that this commit computes the same rows).
COMMIT_DEFAULT=$(cat "$MAIN/results/grids-v3/COMMIT")
RECIPE='{"pretrain_schedule": "converge", "pretrain_max_steps": 60000, "distinct_candidates": true}'
CASES=${CASES:-chi polymer_density}
THREADS=${THREADS:-1}

ns_of() {
  case "$1" in
    chi) echo 0,30,42,60,85,120,170,240,340,480,680,all ;;  # 960: 959 left in trial 16 after withholding
    polymer_density) echo 0,30,42,60,85,120,170,240,340,480,680,all ;;
    formation_enthalpy|band_gap) echo 0,100,300,1000,3000,10000,20000,30000,50000,all ;;
    *) echo "grids_v3.sh: no v3 grid for case '$1'" >&2; exit 2 ;;
  esac
}
ms_of() {
  case "$1" in
    chi) echo 50,100,300,all ;;
    *) echo 100,300,1000,all ;;
  esac
}

run() {
  local commit=${1:-$COMMIT_DEFAULT}
  if [ ! -d "$WT" ]; then
    git -C "$MAIN" worktree add --detach "$WT" "$commit"
    ln -s "$MAIN/.venv" "$WT/.venv"
  fi
  local head; head=$(git -C "$WT" rev-parse HEAD)
  if [ "$head" != "$(git -C "$MAIN" rev-parse "$commit")" ]; then
    echo "grids_v3.sh: $WT is at $head, not $commit; remove it (git worktree remove $WT) or pass its commit" >&2
    exit 2
  fi
  for c in $CASES; do  # the points a reader needs first (m = 100 and all), then the rest of the two-way grid
    mkdir -p "$WT/results/grids-v3/$c/points"
    cp -n "$MAIN/results/grids-v3/$c/points/"*.csv "$WT/results/grids-v3/$c/points/" 2>/dev/null || true
  done
  cd "$WT"
  export PYTHONPATH=$WT/src S2R_DATA_MIRROR=${S2R_DATA_MIRROR:-$MAIN/../shared/data} OMP_NUM_THREADS=$THREADS
  for pass in first rest; do
    for c in $CASES; do
      local ns ms; ns=$(ns_of "$c"); ms=$(ms_of "$c"); [ $pass = first ] && ms=100,all
      .venv/bin/s2r grid "$c" --ns "$ns" --ms "$ms" --trials 20 --threads "$THREADS" \
        --recipe "$RECIPE" --out "results/grids-v3/$c"
    done
  done
}

harvest() {
  local added=0
  for d in "$WT"/results/grids-v3/*/points; do
    local c; c=$(basename "$(dirname "$d")")
    mkdir -p "$MAIN/results/grids-v3/$c/points"
    for f in "$d"/*.csv; do
      [ -e "$f" ] || continue
      local dst="$MAIN/results/grids-v3/$c/points/$(basename "$f")"
      if [ ! -e "$dst" ]; then cp "$f" "$dst.tmp" && mv "$dst.tmp" "$dst" && added=$((added + 1)); fi
    done
  done
  if [ $added -gt 0 ]; then
    git -C "$MAIN" add results/grids-v3
    git -C "$MAIN" commit -q -m "results/grids-v3: $added finished point(s) of the protocol-v3 grids" -- results/grids-v3
  fi
  echo "harvested $added point(s)"
}

case "${1:-}" in
  run) shift; run "$@" ;;
  harvest) harvest ;;
  *) sed -n 2,7p "$0"; exit 2 ;;
esac

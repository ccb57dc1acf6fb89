#!/usr/bin/env bash
# The data x compute factorial of issue 28 (item 2): 3 n x 3 pretraining lengths at m = 100 and m = all,
# 10 trials paired with the final grid's trials 0-9 (same seeds: same splits, source draws, initialisation).
#
#   nohup bash benchmarks/run_factorial.sh [case] [threads] > results/factorial/<case>.log 2>&1 &
#
# Cells the grid already holds are not rerun (n <= 10,000 at 1,000 steps; n = all at 30 epochs = 5,580
# steps for formation enthalpy). Every m = 100 cell runs before any m = all one: pretraining does not
# depend on m, so the m = all runs take the pretrained networks from the cache. Each `s2r grid` call
# resumes: finished points are kept, so rerunning this script after an interruption loses only the
# point in flight. benchmarks/factorial.py reads the points and writes results/factorial/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
case="${1:-formation_enthalpy}"
threads="${2:-1}"
S2R="${S2R:-.venv/bin/s2r}"
out="results/factorial/$case"
# the grid's pretraining length at n = all (30 epochs of batch 512): the middle length of the factorial
case "$case" in
  formation_enthalpy) long=5580 ;;
  band_gap) long=4590 ;;
  *) echo "run_factorial.sh: no grid length known for case $case (formation_enthalpy, band_gap)" >&2; exit 2 ;;
esac
grid() {  # grid <name> <ns> <ms> <recipe-json>
  "$S2R" grid "$case" --ns "$2" --ms "$3" --trials 10 --seed 0 --threads "$threads" --recipe "$4" --out "$out/$1"
}
# the pairing check: the default recipe at n = 0 must reproduce the grid's trials 0-9
grid grid_check 0 100 '{}'
for m in 100 all; do
  grid converge 1000,10000 "$m" '{"pretrain_schedule": "converge", "pretrain_max_steps": 60000}'
  grid "steps_$long" 1000,10000 "$m" "{\"pretrain_min_steps\": $long}"
  grid steps_1000 all "$m" '{"pretrain_max_steps": 1000}'
  grid converge all "$m" '{"pretrain_schedule": "converge", "pretrain_max_steps": 60000}'
done
# the converged curve: the rest of the grid's n under the converged schedule, so that a law can be fitted
# to a curve whose every point is pretrained to its own source-validation minimum
for m in 100 all; do
  grid converge 0,100,300,3000,30000 "$m" '{"pretrain_schedule": "converge", "pretrain_max_steps": 60000}'
done

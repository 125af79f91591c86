#!/usr/bin/env bash
# Mutation testing with mutmut of the modules listed under [tool.mutmut] in pyproject.toml
# (bot/campaign/charcount.py, bot/schedule/, bot/storage/, bot/publishing/). Each mutant runs only
# the fast unit tests that reach the mutated function. Far too slow for the test command or CI
# (well over an hour on 2 shared cores): run it by hand after changing those modules or their tests.
#
#   bench/mutation.sh                    every mutant, from scratch
#   bench/mutation.sh 'bot.storage.*'    only these mutants again, reusing mutants/ of the last run
#
# It ends with the score of each module and the names of the mutants that survived;
# `.venv/bin/mutmut show NAME` shows one. MUTATION_CHILDREN (default 2) sets the parallel workers.
set -euo pipefail
cd "$(dirname "$0")/.."
children="${MUTATION_CHILDREN:-2}"
if [ $# -eq 0 ]; then
    rm -rf mutants
fi
mkdir -p mutants
# mutmut redraws a progress line many times a second; keep it out of the terminal.
if ! nice -n 10 .venv/bin/mutmut run --max-children "$children" "$@" >mutants/run.log 2>&1; then
    tr '\r' '\n' <mutants/run.log | tail -n 40
    exit 1
fi
.venv/bin/python bench/mutation_report.py

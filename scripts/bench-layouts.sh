#!/usr/bin/env bash
# The `ratio` benchmark (typed ÷ baseline) over several random code layouts of one build.
#
# Where the linker puts each function moves the ratio by several per cent on its own (the
# baseline's tight serde_json loops are sensitive to it), so one binary's ratio says as much about
# its layout as about the code (docs/benchmarks.md, "Builds move the ratio"). This builds the
# benchmark once, keeping its object files, then relinks it LAYOUTS times with lld's
# `--shuffle-sections` (every function in its own section, placed in a random order; a different
# seed per layout; a relink takes under a second), runs every layout, and prints each batch's
# ratio over the layouts: lowest, median and highest.
#
#   scripts/bench-layouts.sh [LAYOUTS] [ratio arguments, e.g. 100 --batch 100]
#
# LAYOUTS defaults to 8; the ratio arguments to 100 rounds of 1,000-record batches. Needs the
# toolchain's default linker setup (rust-lld, the default on x86_64 Linux since Rust 1.90). The
# layouts are left in target/layouts/ (layout-N and its output layout-N.txt) for comparing runs.
set -euo pipefail
cd "$(dirname "$0")/.."
layouts=${1:-8}
shift || true
ratio_args=("$@")
[ ${#ratio_args[@]} -gt 0 ] || ratio_args=(100)
out=target/layouts
rm -rf "$out"
mkdir -p "$out"

# Build with the object files kept and the link command printed (cargo only runs rustc when the
# bench is stale, hence the touch). Seed 1 is a placeholder the relinks replace.
touch cdc-processor/benches/ratio.rs
cargo rustc --profile bench -p cdc-processor --bench ratio -- \
    -C save-temps --print link-args -C 'link-arg=-Wl,--shuffle-sections=*=1' >"$out/link-args.txt"
link=$(grep -- '--shuffle-sections=\*=1' "$out/link-args.txt")
built=$(grep -o '"-o" "[^"]*"' <<<"$link" | sed 's/^"-o" "//; s/"$//')
# save-temps also keeps ≈ 2 GB of LLVM bitcode the link does not need.
rm -f "$built".*.bc

for n in $(seq 1 "$layouts"); do
    cmd=${link//--shuffle-sections=\*=1/--shuffle-sections=*=$n}
    cmd=${cmd//\"-o\" \"$built\"/\"-o\" \"$out/layout-$n\"}
    bash -c "$cmd"
done
rm -f "$built".*.o

for n in $(seq 1 "$layouts"); do
    echo "layout $n of $layouts" >&2
    "$out/layout-$n" "${ratio_args[@]}" >"$out/layout-$n.txt"
done

python3 - "$out" "$layouts" <<'EOF'
import pathlib, statistics, sys

out, layouts = pathlib.Path(sys.argv[1]), int(sys.argv[2])
rows = {}
for n in range(1, layouts + 1):
    text = (out / f"layout-{n}.txt").read_text()
    print(f"layout {n}: {text.splitlines()[0]}")
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[3].endswith("×") and cells[0] != "batch":
            rows.setdefault(cells[0], []).append(
                (float(cells[3].rstrip("×")), float(cells[4].rstrip("×")))
            )

def spread(values):
    return f"{min(values):.2f}× / {statistics.median(values):.2f}× / {max(values):.2f}×"

print(f"\nTyped ÷ baseline over {layouts} layouts (lowest / median / highest):\n")
print("| batch | fastest batches | median round |")
print("|---|---:|---:|")
for batch, ratios in rows.items():
    print(f"| {batch} | {spread([f for f, _ in ratios])} | {spread([m for _, m in ratios])} |")
EOF

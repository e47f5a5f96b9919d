#!/usr/bin/env bash
# Builds bench/c_fft/fft.c with gcc -O2 -m32 (or -m64 if multilib is missing) into an out dir, never the repo.
# Why: the C baseline for the viper FFT benchmark. Usage: build.sh [OUT_DIR]; prints the binary path.
set -euo pipefail
# OUT_DIR defaults to $TMPDIR/threadbeat-c-fft; C_FFT_M64=1 forces -m64; a note goes to stderr on fallback.
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-${TMPDIR:-/tmp}/threadbeat-c-fft}"
mkdir -p "$out"
CC="${CC:-gcc}"
flags=(-O2 -std=c99 -D_POSIX_C_SOURCE=199309L -Wall -Wextra)
if [ "${C_FFT_M64:-0}" != 1 ] && "$CC" -m32 "${flags[@]}" -o "$out/fft32" "$here/fft.c" 2>"$out/m32.log"; then
    echo "$out/fft32"
else
    echo "note: no -m32 build (C_FFT_M64=1, or install gcc-multilib); built -m64 instead (same output, other timing)" >&2
    "$CC" -m64 "${flags[@]}" -o "$out/fft64" "$here/fft.c"
    echo "$out/fft64"
fi

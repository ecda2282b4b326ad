#!/bin/sh
# inference_range.sh ELF OBJECT...
# Prints "lo=0x...,hi=0x...,entry=0x...,mark=0x...,..." for icount_plugin: the address range in ELF of the
# functions that OBJECT... (network.o and the kernel objects) define, the address of harx_infer, and one
# mark per kernel (every global function there but harx_infer: each layer calls one).
# Refuses (exit 1) unless every instruction of an inference lies in that range and nothing else does:
# those functions must be contiguous in ELF, and must call no code outside themselves (no libgcc or
# memcpy helper the compiler slipped in).
set -eu
NM=${NM:-riscv64-unknown-elf-nm}
elf=$1
shift
funcs=$("$NM" --defined-only "$@" | awk '$2 ~ /^[tT]$/ { print $3 }' | sort -u)
called=$("$NM" --undefined-only "$@" | awk '{ print $NF }' | sort -u)
range=$("$NM" -S -n --defined-only "$elf" | awk -v funcs="$funcs" -v called="$called" '
    BEGIN {
        n = split(funcs, f, "\n"); for (i = 1; i <= n; i++) want[f[i]] = 1
        n = split(called, c, "\n"); for (i = 1; i <= n; i++) call[c[i]] = 1
    }
    { name = $NF; type = $(NF - 1) }
    type !~ /^[tT]$/ { next }
    (name in call) && !(name in want) {
        print "inference_range: the inference code calls " name ", which lies outside it" > "/dev/stderr"; bad = 1
    }
    name in want {
        if (state == 2) { print "inference_range: " name " is not contiguous with the inference code" > "/dev/stderr"; bad = 1 }
        if (state == 0) { lo = $1; state = 1 }
        last = $1; size = NF == 4 ? $2 : "0"
        if (name == "harx_infer") entry = $1
        else if (type == "T") marks = marks ",mark=0x" $1
        next
    }
    state == 1 { state = 2 }
    END {
        if (lo == "" || entry == "") { print "inference_range: harx_infer not found" > "/dev/stderr"; bad = 1 }
        if (bad) exit 1
        print lo, last, size, entry, marks
    }')
set -- $range
printf 'lo=0x%s,hi=0x%x,entry=0x%s%s\n' "$1" $((0x$2 + 0x$3)) "$4" "${5:-}"

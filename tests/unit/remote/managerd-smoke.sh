#!/bin/sh
# capdrv-managerd as a process: starts in the foreground, answers --status,
# logs key=value lines, and on SIGTERM exits 0 and removes its socket.
#   managerd-smoke.sh MANAGERD MANIFEST.dtb
set -eu
mgr=$1
dtb=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sock=$dir/m.sock
"$mgr" --socket "$sock" --manifest "$dtb" --foreground 2>"$dir/log" &
pid=$!
i=0
until [ -S "$sock" ]; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "no socket after 10 s"; cat "$dir/log"; kill "$pid"; exit 1; }
    sleep 0.1
done
"$mgr" --socket "$sock" --status >"$dir/status"
grep -q '^manager pid=[0-9]* socket=.* providers=0$' "$dir/status" || { cat "$dir/status"; exit 1; }
grep -q '^ledger grants=5 grants_claimed=0 dma_buffers=0 ' "$dir/status" || { cat "$dir/status"; exit 1; }
st=0
"$mgr" --socket "$sock" --revoke conf:0x400000100000001 2>"$dir/err" || st=$?
[ "$st" -eq 1 ] && grep -q "revoke:" "$dir/err" || { echo "revoke of an absent provider: exit $st"; cat "$dir/err"; exit 1; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { echo "exit status $rc after SIGTERM"; cat "$dir/log"; exit 1; }
[ ! -e "$sock" ] || { echo "socket left behind"; exit 1; }
grep -q 'event=listen socket=' "$dir/log" || { cat "$dir/log"; exit 1; }
grep -q 'event=signal signo=15' "$dir/log" || { cat "$dir/log"; exit 1; }
grep -q 'event=stop' "$dir/log" || { cat "$dir/log"; exit 1; }
# usage errors are exit status 2
st=0
"$mgr" --socket "$sock" 2>/dev/null || st=$?
[ "$st" -eq 2 ] || { echo "missing --manifest: exit $st, want 2"; exit 1; }
echo "managerd-smoke: ok"

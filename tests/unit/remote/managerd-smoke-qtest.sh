#!/bin/sh
# capdrv-managerd --machine qtest as a process: QEMU's q35 with the
# conformance machine's devices (conformance/manifests/qtest-machine.dtsi),
# --status lists its grants, SIGTERM stops manager and QEMU cleanly. Skips
# (77) without qemu-system-x86_64.
#   managerd-smoke-qtest.sh MANAGERD MANIFEST.dtb [--iommu]
set -eu
mgr=$1
dtb=$2
iommu=${3:-}
command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "no qemu-system-x86_64: skip"; exit 77; }
dir=$(mktemp -d)
pid=
# Never leave the manager (and its QEMU) behind: ctest waits for them.
trap '[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM # a timeout's SIGTERM runs the EXIT trap too
sock=$dir/m.sock
truncate -s 4M "$dir/blk.img" "$dir/nvme.img"
vnet=virtio-net-pci,netdev=n0,disable-legacy=on,addr=07.0,romfile=
vblk=virtio-blk-pci,drive=d0,disable-legacy=on,addr=06.0
if [ -n "$iommu" ]; then vnet=$vnet,iommu_platform=on; vblk=$vblk,iommu_platform=on; fi
"$mgr" --socket "$sock" --manifest "$dtb" --machine qtest $iommu --foreground \
    --qemu-arg -drive --qemu-arg "if=none,id=d0,file=$dir/blk.img,format=raw" \
    --qemu-arg -device --qemu-arg "$vblk" \
    --qemu-arg -netdev --qemu-arg hubport,id=n0,hubid=0 \
    --qemu-arg -device --qemu-arg "$vnet" \
    --qemu-arg -drive --qemu-arg "if=none,id=d1,file=$dir/nvme.img,format=raw" \
    --qemu-arg -device --qemu-arg nvme,serial=capdrv-smoke,drive=d1,addr=08.0 \
    2>"$dir/log" &
pid=$!
i=0
until [ -S "$sock" ]; do
    i=$((i + 1))
    if [ "$i" -ge 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "no socket after 10 s"; cat "$dir/log"; kill "$pid" 2>/dev/null; exit 1
    fi
    sleep 0.1
done
"$mgr" --socket "$sock" --status >"$dir/status"
grep -q '^manager pid=[0-9]* socket=.* providers=0$' "$dir/status" || { cat "$dir/status"; exit 1; }
grep -q '^ledger grants=4 grants_claimed=0 dma_buffers=0 ' "$dir/status" || { cat "$dir/status"; exit 1; }
lane=brokered
[ -z "$iommu" ] || lane=direct
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || { echo "exit status $rc after SIGTERM"; cat "$dir/log"; exit 1; }
[ ! -e "$sock" ] || { echo "socket left behind"; exit 1; }
grep -q 'event=stop' "$dir/log" || { cat "$dir/log"; exit 1; }
# a machine the daemon does not know is a usage error
st=0
"$mgr" --socket "$sock" --manifest "$dtb" --machine pdp11 2>/dev/null || st=$?
[ "$st" -eq 2 ] || { echo "unknown machine: exit $st, want 2"; exit 1; }
echo "managerd-smoke-qtest: ok ($lane)"

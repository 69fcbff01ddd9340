#!/bin/sh
# The gradlab kernel's launcher on Linux and macOS (kernel.json runs it: kernel/spec.ts):
#   sh launch.sh NODE KERNEL_JS --config-path CONNECTION_FILE
#
# It starts Node once, in its own place (exec: the kernel keeps this process, its pid and its
# signals). Where the kernel's last start left a launch file (snapshot.launch in the kernel's cache
# folder, written by kernel/snapshot.ts writeLaunchFile) that still fits — the same checkout, Node
# binary and TypeScript file, the same blob, a folder and files only this user can write — it runs
#   NODE --snapshot-blob BLOB KERNEL_JS ...
# straight away; a second Node that starts only to choose (kernel/launch.ts) costs a Node start,
# about 0.1-0.15 s on a small virtual machine. In every other case it runs KERNEL_JS, which decides
# as before: kernel/launch.ts checks the snapshot fully and starts from it or not.
# GRADLAB_KERNEL_LAUNCH_DEBUG=1 writes the choice and its reason to stderr.
node=$1
entry=$2
shift 2

why() {
  if [ "${GRADLAB_KERNEL_LAUNCH_DEBUG:-}" = 1 ]; then echo "gradlab launch.sh: $1" >&2; fi
}

if [ "${GRADLAB_KERNEL_SNAPSHOT:-}" = 0 ]; then
  why "plain: GRADLAB_KERNEL_SNAPSHOT=0"
  exec "$node" "$entry" "$@"
fi
# The cache folder, as kernel/converter.ts codeCacheDir finds it.
if [ -n "${GRADLAB_KERNEL_CACHE:-}" ]; then
  dir=$GRADLAB_KERNEL_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
  dir=$XDG_CACHE_HOME/gradlab/kernel
elif [ -n "${HOME:-}" ]; then
  dir=$HOME/.cache/gradlab/kernel
else
  why "plain: no HOME"
  exec "$node" "$entry" "$@"
fi
file=$dir/snapshot.launch
if [ ! -f "$file" ] || [ ! -O "$dir" ] || [ ! -O "$file" ]; then
  why "plain: no launch file of this user's in $dir"
  exec "$node" "$entry" "$@"
fi
# One value a line: format, snapshot key, blob, its size and time, the kernel.js it is for (the
# checkout: another one may load another TypeScript), Node, its size and time, TypeScript's file,
# its size and time, whether the measured starts favour the snapshot (1 or 0).
{ read -r format; read -r key; read -r blob; read -r blobsig; read -r entryfile; read -r nodefile; read -r nodesig; read -r tsfile; read -r tssig; read -r prefer; } < "$file"
if [ "$format" != "gradlab-launch 2" ] || [ "$entryfile" != "$entry" ] || [ "$nodefile" != "$node" ] || [ -z "$blob" ] || [ ! -O "$blob" ]; then
  why "plain: the launch file is for another checkout, Node or format"
  exec "$node" "$entry" "$@"
fi
if [ "$prefer" != 1 ] && [ "${GRADLAB_KERNEL_SNAPSHOT:-}" != 1 ]; then
  why "plain: the measured starts favour starting without the snapshot"
  exec "$node" "$entry" "$@"
fi
# Permissions (no group or other write), sizes and times to the nanosecond: GNU stat, else BSD stat
# (a stat that prints times otherwise matches nothing, and the kernel starts as kernel.js decides).
sigs=$(stat -L -c '%a %s %.9Y' "$dir" "$file" "$blob" "$node" "$tsfile" 2>/dev/null || stat -L -f '%Lp %z %.9Fm' "$dir" "$file" "$blob" "$node" "$tsfile" 2>/dev/null)
if [ -z "$sigs" ]; then
  why "plain: cannot stat the snapshot's inputs"
  exec "$node" "$entry" "$@"
fi
n=0
ok=yes
while read -r mode size time; do
  n=$((n + 1))
  if [ "$n" -le 3 ]; then
    case $mode in *[2367][0-7] | *[0-7][2367]) ok=no ;; esac
  fi
  case $n in
    3) [ "$size $time" = "$blobsig" ] || ok=no ;;
    4) [ "$size $time" = "$nodesig" ] || ok=no ;;
    5) [ "$size $time" = "$tssig" ] || ok=no ;;
  esac
done <<EOF
$sigs
EOF
[ "$n" = 5 ] || ok=no
if [ "$ok" != yes ]; then
  why "plain: the snapshot, Node or TypeScript changed, or others can write the cache"
  exec "$node" "$entry" "$@"
fi
# As kernel/snapshot.ts snapshotChildEnv: glibc's malloc asked for huge pages (Node reads the whole
# blob into one block), unless the user chose; takeLaunchInfo gives cells the user's value back.
case ${GLIBC_TUNABLES-} in
  glibc.malloc.hugetlb=* | *:glibc.malloc.hugetlb=*) ;;
  *)
    if [ "${GLIBC_TUNABLES+set}" = set ]; then
      GRADLAB_KERNEL_GLIBC_TUNABLES="=$GLIBC_TUNABLES"
      GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1"
    else
      GRADLAB_KERNEL_GLIBC_TUNABLES=none
      GLIBC_TUNABLES=glibc.malloc.hugetlb=1
    fi
    export GLIBC_TUNABLES GRADLAB_KERNEL_GLIBC_TUNABLES
    ;;
esac
GRADLAB_KERNEL_FROM=$key
export GRADLAB_KERNEL_FROM
why "snapshot: $blob"
exec "$node" --snapshot-blob "$blob" "$entry" "$@"

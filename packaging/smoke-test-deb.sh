#!/usr/bin/env bash
# Install a built .deb into a fresh minimal Debian and use it there as a person would, offline:
#
#   packaging/smoke-test-deb.sh dist/neural-easel_<version>_amd64.deb [SCREENSHOT.png]
#
# As root (debootstrap, chroot, mounts). Installing the package alone with apt proves its Depends line:
# every library the bundle links must then resolve (ldd), and the CLI and the offscreen window must run
# with nothing else installed. Then, with the network cut off (a network namespace of its own): the
# version, a colour transfer, a tiny stylization with the bundled VGG, a sequence model trained on a video
# and continuing it, the window's --smoke-test offscreen
# and on a real X server (xvfb-run, the xcb path a desktop takes), and the launch-to-window time.
# With SCREENSHOT.png (needs ImageMagick here), it also saves a picture of the installed app's window on
# that X server. Finally the package is purged and nothing of it may be left.
set -euo pipefail
deb=$(realpath "$1")
screenshot=${2:+$(realpath "$2")}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/neural-easel-smoke.XXXXXX)
root=$work/root

cleanup() {
    for mount in dev/shm dev/pts dev proc; do
        mountpoint -q "$root/$mount" && umount -l "$root/$mount"
    done
    rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\nsmoke test: %s\n' "$*"; }
in_root() { chroot "$root" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
offline() { unshare --net chroot "$root" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"; }
fail() { echo "smoke test FAILED: $*" >&2; exit 1; }

step "a fresh Debian $suite (debootstrap --variant=minbase)"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t devpts devpts "$root/dev/pts" 2>/dev/null || true
mount -t tmpfs tmpfs "$root/dev/shm"

step "apt-get install ./$(basename "$deb") (its Depends alone)"
cp "$deb" "$root/tmp/"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "/tmp/$(basename "$deb")" >"$work/install.log" 2>&1 || { tail -30 "$work/install.log"; fail "install"; }
package=$(dpkg-deb -f "$deb" Package)
in_root dpkg -L "$package" >"$work/files"
unresolved=$(in_root sh -c 'find /usr/lib/neural-easel -name "*.so*" -type f -exec ldd {} + 2>/dev/null' \
    | grep "not found" | sort -u || true)
[ -z "$unresolved" ] || fail "libraries the Depends line does not bring: $unresolved"
echo "all libraries of the bundle resolve"

step "the CLI, offline"
mkdir -p "$root/tmp/in" "$root/tmp/out"
cp "$here/resources/images/sample.jpg" "$here/resources/images/dusk.jpg" "$root/tmp/in/"
offline neural-easel-cli --version
offline neural-easel-cli -q colour-transfer /tmp/in/sample.jpg /tmp/in/dusk.jpg -o /tmp/out/colour.png
start=$(date +%s%N)
offline neural-easel-cli -q stylize /tmp/in/sample.jpg --style /tmp/in/dusk.jpg --size 128 \
    --iterations 4 --scales 1 -o /tmp/out/stylized.png
echo "first stylization, 128 px, 4 iterations (converts the bundled VGG16 once):" \
    "$((($(date +%s%N) - start) / 1000000)) ms"
for picture in colour stylized; do
    [ "$(head -c 8 "$root/tmp/out/$picture.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
        || fail "$picture.png is not a PNG picture"
done
echo "colour.png and stylized.png written"

step "a sequence model from a video, offline (the bundled FFmpeg decodes H.264)"
cp "$here/tests/data/moving-square.mp4" "$root/tmp/in/"
offline neural-easel-cli -q train-sequence /tmp/in/moving-square.mp4 --size 32 --steps 2 --input-frames 4 \
    --output-frames 4 --width 8 --layers 1 --out /tmp/out/sequence
offline neural-easel-cli -q continue-sequence /tmp/out/sequence/sequence.safetensors /tmp/in/moving-square.mp4 \
    --frames 3 -o /tmp/out/next.gif
[ "$(head -c 4 "$root/tmp/out/next.gif")" = GIF8 ] || fail "next.gif is not a GIF"
echo "sequence.safetensors and next.gif written"

step "the window, offscreen"
offline env QT_QPA_PLATFORM=offscreen neural-easel --smoke-test
for run in 1 2 3; do  # warm: the bundle is in the page cache after the first start
    start=$(date +%s%N)
    offline env QT_QPA_PLATFORM=offscreen neural-easel --smoke-test | {
        read -r first_line
        echo "launch $run: $first_line after $((($(date +%s%N) - start) / 1000000)) ms"
        cat >/dev/null
    }
done

step "the window on an X server (xvfb-run: the xcb platform)"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb xauth \
    >"$work/xvfb.log" 2>&1 || { tail -20 "$work/xvfb.log"; fail "installing xvfb"; }
offline xvfb-run -a neural-easel --smoke-test
if [ -n "$screenshot" ]; then
    # Xvfb keeps its screen in a file (-fbdir); the window is given 20 s to load torch and settle.
    offline sh -c 'Xvfb :7 -screen 0 1400x900x24 -fbdir /tmp & server=$!; sleep 2
        DISPLAY=:7 neural-easel & app=$!; sleep 20
        cp /tmp/Xvfb_screen0 /tmp/screen.xwd; kill $app $server' || true
    convert "xwd:$root/tmp/screen.xwd" "$screenshot"
    echo "screenshot: $screenshot"
fi

step "apt-get purge $package"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$package" >/dev/null
left=$(while read -r path; do
    if [ -e "$root$path" ] && [ ! -d "$root$path" ]; then echo "$path"; fi
done <"$work/files")
[ -z "$left" ] || fail "files left after purge: $left"
[ ! -e "$root/usr/lib/neural-easel" ] || fail "/usr/lib/neural-easel is left after purge"
echo "nothing of $package is left"
echo
echo "smoke test passed"

#!/usr/bin/env bash
# Build dist/neural-easel_<version>_amd64.deb from this checkout, on Debian 12 or newer (or Ubuntu 22.04+):
#
#   packaging/build-deb.sh
#
# It installs what it needs: Debian's packaging tools (when run as root), and the Python side in its own
# virtual environment (build/venv-<variant>): the CPU build of torch, PyInstaller and the app. Then it
# freezes the app (packaging/neural-easel.spec), lays out the package, computes `Depends:` from the
# libraries the bundled programs and Qt's plugins really link (dpkg-shlibdeps), builds the .deb and
# checks it with desktop-file-validate, appstreamcli and lintian.
#
# NEURAL_EASEL_VARIANT=cuda builds a CUDA variant instead (PyPI's CUDA torch and torchvision; about
# 4-5 GB installed; not built in CI). Where the CPU wheel of torch is not at hand, pip finds it with
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
variant=${NEURAL_EASEL_VARIANT:-cpu}
case $variant in
    cpu) torch_requirements=("torch==2.13.0+cpu") without=(--without torchvision) ;;
    cuda) torch_requirements=("torch" "torchvision") without=() ;;
    *) echo "NEURAL_EASEL_VARIANT must be cpu or cuda, not '$variant'" >&2; exit 2 ;;
esac
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' core/__init__.py)
package=neural-easel
[ "$variant" = cpu ] || package=neural-easel-cuda
started=$(date +%s)

# --- build requirements -------------------------------------------------------------------------------
# The Qt libraries' own dependencies must be installed for dpkg-shlibdeps to resolve them (it fails on
# any library it cannot find rather than guess). These are the ones PySide6's xcb, Wayland and EGL
# plugins link beyond what a minimal Debian has.
tools=(python3-venv dpkg-dev fakeroot desktop-file-utils appstream lintian patchelf)
qt_runtime=(libegl1 libgl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libglib2.0-0
    libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
    libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxcb-sync1 libxcb-shm0
    libwayland-client0 libwayland-cursor0 libwayland-egl1)
missing=()
for p in "${tools[@]}" "${qt_runtime[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "build-deb: install these first (as root): apt-get install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

venv=build/venv-$variant
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" "${torch_requirements[@]}" "pyinstaller==6.22.3" "pyinstaller-hooks-contrib==2026.9"
# The installed torch is the constraint for the rest: the app's own requirements must not swap it.
"$venv/bin/python" -m pip freeze | grep -i -E '^(torch|torchvision)==' > build/torch-constraint.txt
"${pip[@]}" --constraint build/torch-constraint.txt .

# --- freeze -------------------------------------------------------------------------------------------
"$venv/bin/python" packaging/render_icons.py build/icons
NEURAL_EASEL_VARIANT=$variant "$venv/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath build/bundle --workpath build/pyinstaller packaging/neural-easel.spec
bundle=build/bundle/neural-easel
frozen=$(date +%s)

# --- lay out the package ------------------------------------------------------------------------------
stage=build/deb/$package
rm -rf "$stage"
install -d "$stage/DEBIAN" "$stage/usr/lib" "$stage/usr/bin" "$stage/usr/share/applications" \
    "$stage/usr/share/metainfo" "$stage/usr/share/man/man1" "$stage/usr/share/doc/$package" \
    "$stage/usr/share/lintian/overrides" "$stage/usr/share/icons/hicolor/scalable/apps"
cp -a "$bundle" "$stage/usr/lib/neural-easel"
# The two programs are one file under two names (packaging/launcher.py picks by name; the console flag
# matters on Windows alone): a hard link keeps one copy of its 39 MB.
if cmp -s "$stage/usr/lib/neural-easel/neural-easel" "$stage/usr/lib/neural-easel/neural-easel-cli"; then
    ln -f "$stage/usr/lib/neural-easel/neural-easel" "$stage/usr/lib/neural-easel/neural-easel-cli"
fi
for program in neural-easel neural-easel-cli; do
    ln -s "../lib/neural-easel/$program" "$stage/usr/bin/$program"
    gzip -9n -c "packaging/linux/$program.1" > "$stage/usr/share/man/man1/$program.1.gz"
done
install -m 644 packaging/linux/neural-easel.desktop "$stage/usr/share/applications/"
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$(date -u +%F)/" \
    packaging/linux/org.neuraleasel.NeuralEasel.metainfo.xml \
    > "$stage/usr/share/metainfo/org.neuraleasel.NeuralEasel.metainfo.xml"
install -m 644 resources/icons/neural-easel.svg "$stage/usr/share/icons/hicolor/scalable/apps/"
for size in 48 256; do
    install -D -m 644 "build/icons/neural-easel-$size.png" \
        "$stage/usr/share/icons/hicolor/${size}x$size/apps/neural-easel.png"
done
"$venv/bin/python" packaging/licences.py "$stage/usr/share/doc/$package" "${without[@]}"
printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' "$package" "$version" \
    "$version" "Neural Easel developers <neural-easel@users.noreply.github.com>" "$(date -uR)" \
    | gzip -9n > "$stage/usr/share/doc/$package/changelog.gz"
sed "s/^neural-easel:/$package:/" packaging/linux/lintian-overrides \
    > "$stage/usr/share/lintian/overrides/$package"
find "$stage" -type d -exec chmod 755 {} +
find "$stage/usr/share" -type f -exec chmod 644 {} +

# Libraries not executable, and no search path into the build machine (Python's own libraries point at
# the folder it was built in; the wheels' $ORIGIN paths stay). Nothing is stripped: the wheels' binaries
# stay as their projects released them (strip breaks the auditwheel-repaired ones: numpy's OpenBLAS then
# fails to load, "ELF load command address/offset not page-aligned"), and PyInstaller's two programs
# carry the app's archive appended to them.
mapfile -t elves < <(find "$stage/usr/lib/neural-easel" -type f \( -name '*.so*' -o -perm -u+x \) \
    -exec sh -c 'head -c4 "$1" | grep -q ELF && echo "$1"' _ {} \;)
for elf in "${elves[@]}"; do
    case $elf in *.so*) chmod 644 "$elf" ;; esac
    search_path=$(patchelf --print-rpath "$elf")
    if [ -n "$search_path" ] && [[ $search_path != \$ORIGIN* ]]; then
        patchelf --remove-rpath "$elf"
    fi
done

# Depends: what the bundled programs and libraries link from the system, with dpkg-shlibdeps' versions.
# The bundle's own libraries (torch, Qt, numpy's) are private: -l tells it where they are.
mkdir -p build/shlibdeps/debian
printf 'Source: neural-easel\n\nPackage: %s\nArchitecture: amd64\n' "$package" > build/shlibdeps/debian/control
private=()
while IFS= read -r dir; do private+=("-l$root/$dir"); done < <(
    find "$stage/usr/lib/neural-easel" -name '*.so*' -type f -printf '%h\n' | sort -u)
shlibs=$(cd build/shlibdeps && dpkg-shlibdeps -O --ignore-missing-info "${private[@]}" \
    "${elves[@]/#/$root/}" 2>"$root/build/shlibdeps/warnings" | sed -n 's/^shlibs:Depends=//p')
installed_kib=$(du -sk --apparent-size "$stage/usr" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: amd64
Maintainer: Neural Easel developers <neural-easel@users.noreply.github.com>
Installed-Size: $installed_kib
Depends: $shlibs
Section: graphics
Priority: optional
Homepage: https://github.com/neural-easel/neural-easel
Description: desktop studio for creative image synthesis
 Paint photos in the style of one or more paintings (Gatys optimisation or
 fast feed-forward networks), give them the colours of a palette, train GANs,
 VAEs and classifiers on folders of your own pictures and explore what they
 learned. Runs offline on the CPU or a CUDA GPU; the window never freezes
 while a model works. A command-line tool runs the same jobs.
EOF

# --- build and check ----------------------------------------------------------------------------------
mkdir -p dist
deb=dist/${package}_${version}_amd64.deb
# xz: lintian in Debian 12 rejects zstd-compressed packages.
fakeroot dpkg-deb --build -Zxz --threads-max="$(nproc)" "$stage" "$deb" >/dev/null
desktop-file-validate "$stage/usr/share/applications/neural-easel.desktop"
appstreamcli validate --no-net "$stage/usr/share/metainfo/org.neuraleasel.NeuralEasel.metainfo.xml"
lintian --fail-on error,warning "$deb"
finished=$(date +%s)
echo "build-deb: $deb: $(du -m "$deb" | cut -f1) MB, installed $((installed_kib / 1024)) MB;" \
    "freeze $((frozen - started)) s, package and checks $((finished - frozen)) s"

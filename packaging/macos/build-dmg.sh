#!/usr/bin/env bash
# Build dist/neural-easel-<version>-arm64.dmg on an Apple-silicon Mac (macOS 12 or newer, Xcode's
# command-line tools, Python 3.11 from python.org or Homebrew):
#
#   packaging/macos/build-dmg.sh
#
# PyTorch ships no Intel-Mac wheels since 2.3, so the app is arm64 only. The .app is ad-hoc signed; to
# hand it to others without Gatekeeper's warning, sign it with a Developer ID (CODESIGN_IDENTITY=...) and
# notarise the .dmg (xcrun notarytool submit ... --wait; xcrun stapler staple ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(uname -s)-$(uname -m)" = Darwin-arm64 ] || { echo "build-dmg: run this on an Apple-silicon Mac" >&2; exit 1; }
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' core/__init__.py)
venv=build/venv-macos
[ -x "$venv/bin/python" ] || python3.11 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.13.0 pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9  # MPS build
"$venv/bin/pip" install -q .

# The icon: Qt renders the PNG sizes, iconutil packs them into an .icns.
iconset=build/icons/neural-easel.iconset
mkdir -p "$iconset"
"$venv/bin/python" packaging/render_icons.py build/icons
for size in 16 32 128 256 512; do
    sips -z $size $size build/icons/neural-easel-256.png --out "$iconset/icon_${size}x${size}.png" >/dev/null
    sips -z $((size * 2)) $((size * 2)) build/icons/neural-easel-256.png \
        --out "$iconset/icon_${size}x${size}@2x.png" >/dev/null
done
iconutil -c icns "$iconset" -o build/icons/neural-easel.icns

"$venv/bin/pyinstaller" --noconfirm --distpath build/bundle --workpath build/pyinstaller packaging/neural-easel.spec
app="build/bundle/Neural Easel.app"
codesign --force --deep --sign "${CODESIGN_IDENTITY:--}" "$app"
"$app/Contents/MacOS/neural-easel-cli" --version

mkdir -p dist build/dmg
rm -rf build/dmg/*
cp -R "$app" build/dmg/
ln -s /Applications build/dmg/Applications
hdiutil create -volname "Neural Easel" -srcfolder build/dmg -ov -format UDZO "dist/neural-easel-$version-arm64.dmg"
echo "build-dmg: dist/neural-easel-$version-arm64.dmg"

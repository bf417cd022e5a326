#!/usr/bin/env bash
# Rebuilds api/assets/fonts/NotoSansSC-Receipt.ttf, the font the payment receipt PDF embeds
# (api/src/payments/pdf.rs), from the upstream Noto Sans SC Regular.
#
# Why this source: printpdf embeds TrueType (glyf) outlines reliably, while Debian's
# fonts-noto-cjk ships CFF outlines inside a collection. Google Fonts' build of Noto Sans SC
# is glyf, and the npm package @expo-google-fonts/noto-sans-sc carries it unchanged.
#
# What is kept: ASCII, Latin-1 (¥, ², ×, ·), general and CJK punctuation, fullwidth forms,
# the 3,755 level-1 hanzi of GB2312, and every character of pdf.rs and pdf/*.rs (so the template's
# labels, 大写 digits and units are always covered). Hinting, layout and vertical tables are
# dropped: the PDF is drawn glyph by glyph, never shaped. The name table (with the licence
# fields) is kept.
#
# Needs npm, python3 (with venv) and sha256sum. Extra characters (say, a community's rare
# hanzi) can be added with EXTRA_CHARS='璟喆' scripts/subset-receipt-font.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/api/assets/fonts/NotoSansSC-Receipt.ttf
template=$root/api/src/payments/pdf.rs

package=@expo-google-fonts/noto-sans-sc@0.4.3
source_ttf=package/400Regular/NotoSansSC_400Regular.ttf
source_sha256=d45f67f0a7c0ca3f256950777ce6a61cc7ce5f9696d02900cbbaac25f8aa7d16
fonttools_version=4.68.0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "fetching $package" >&2
(cd "$work" && npm pack --silent "$package" >/dev/null && tar xzf ./*.tgz)
echo "$source_sha256  $work/$source_ttf" | sha256sum --check --quiet -

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "fonttools==$fonttools_version"

# The template is pdf.rs and its modules (labels, capital digits).
cat "$template" "${template%.rs}"/*.rs >"$work/template.txt"

# GB2312 level 1: rows 0xB0..0xD7, cells 0xA1..0xFE (row 0xD7 stops at 0xF9).
"$work/venv/bin/python" - "$work/chars.txt" "$work/template.txt" <<'PY'
import os, sys
out, template = sys.argv[1], sys.argv[2]
chars = []
for row in range(0xB0, 0xD8):
    for cell in range(0xA1, 0xFF):
        try:
            chars.append(bytes([row, cell]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
assert len(chars) == 3755, len(chars)
with open(template, encoding="utf-8") as f:
    chars.append(f.read())
chars.append(os.environ.get("EXTRA_CHARS", ""))
with open(out, "w", encoding="utf-8") as f:
    f.write("".join(chars))
PY

mkdir -p "$(dirname "$out")"
"$work/venv/bin/pyftsubset" "$work/$source_ttf" \
  --output-file="$out" \
  --unicodes='U+0020-007E,U+00A0-00FF,U+2010-2027,U+2030,U+3000-303F,U+FF01-FF5E,U+FFE0-FFE5' \
  --text-file="$work/chars.txt" \
  --no-hinting \
  --layout-features='' \
  --drop-tables+=GSUB,GPOS,GDEF,BASE,vhea,vmtx,STAT \
  --name-IDs='*' --name-languages='*'

ls -l "$out" >&2
sha256sum "$out" >&2

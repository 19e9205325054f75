#!/usr/bin/env bash
# `make docs`: validates every contracts/asyncapi/*.json with the official AsyncAPI CLI and renders
# it with the official HTML template into docs/contracts/<service>/index.html, one self-contained
# file (singleFile=true: CSS and JS inlined, no CDN) that a partner opens offline from disk.
#
# The tools are pinned by the lock files in scripts/docs/{cli,template}/ and installed with
# `npm ci --ignore-scripts` into .tools/node/ (project-local, never global; again only when a lock
# changes). No browser is downloaded: the template's puppeteer is only for its `pdf` option.
#   - @asyncapi/cli 4.1.1: the last release that runs on Node 20 (5.x and later need Node 24).
#     `--use-new-generator` selects its bundled generator 2.8, which the template requires.
#   - @asyncapi/html-template 3.5.6 in a tree of its own: installed next to the CLI, npm hoists
#     the CLI's React 19 and the template's server-side rendering fails (React error #258).
# The CLI's telemetry is off: it reads an analytics file under .tools/node/ that says so.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[docs]\033[0m %s\n' "$*" >&2; }

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
  say "needs Node.js >= 18.12 and npm (e.g. apt-get install nodejs npm)"; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a===18&&b>=12)?0:1)' || {
  say "needs Node.js >= 18.12, found $(node --version)"; exit 1; }

TOOLS=.tools/node
OUT=docs/contracts

install() {  # $1: scripts/docs/<name> -> .tools/node/<name>, from its lock file
  local src=scripts/docs/$1 dst=$TOOLS/$1 sum
  sum=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$dst/.installed" 2>/dev/null)" != "$sum" ]; then
    say "installing $1 from scripts/docs/$1/package-lock.json into $dst"
    rm -rf "$dst" && mkdir -p "$dst"
    cp "$src/package.json" "$src/package-lock.json" "$dst/"
    (cd "$dst" && PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
      npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$sum" >"$dst/.installed"
  fi
}
install cli
install template

export ASYNCAPI_METRICS_CONFIG_PATH=$PWD/$TOOLS/asyncapi-analytics.json
[ -f "$ASYNCAPI_METRICS_CONFIG_PATH" ] ||
  echo '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"shebao-docs"}' >"$ASYNCAPI_METRICS_CONFIG_PATH"
asyncapi() { "$TOOLS/cli/node_modules/.bin/asyncapi" "$@"; }
TEMPLATE=$PWD/$TOOLS/template/node_modules/@asyncapi/html-template

shopt -s nullglob
specs=(contracts/asyncapi/*.json)
[ ${#specs[@]} -gt 0 ] || { say "no contracts/asyncapi/*.json: run make contracts"; exit 1; }

for spec in "${specs[@]}"; do
  say "validating $spec"
  log=$(asyncapi validate "$spec" --fail-severity warn --diagnostics-format text 2>&1) || {
    printf '%s\n' "$log" >&2; exit 1; }
done

rm -rf "$OUT" && mkdir -p "$OUT"
index=""
for spec in "${specs[@]}"; do
  name=$(basename "$spec" .json)
  say "rendering $spec -> $OUT/$name/index.html"
  log=$(asyncapi generate fromTemplate "$spec" "$TEMPLATE" --use-new-generator --no-interactive \
    -o "$OUT/$name" -p singleFile=true --force-write 2>&1) || { printf '%s\n' "$log" >&2; exit 1; }
  title=$(node -e 'process.stdout.write(require(process.argv[1]).info.title)' "$PWD/$spec" |
    sed 's/&/\&amp;/g; s/</\&lt;/g')
  index+="<li><a href=\"$name/index.html\">$title</a> <code>$spec</code></li>"$'\n'
done

# Nothing but inline code and data: URLs may be loaded (a partner may have no network).
if grep -lE '<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//' "$OUT"/*/index.html; then
  say "a page above loads something from the network"; exit 1
fi

cat >"$OUT/index.html" <<EOF
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shebao partner contracts</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:3rem auto;line-height:1.6}</style>
</head><body><h1>shebao partner contracts</h1>
<p>One page per AsyncAPI document in <code>contracts/asyncapi/</code>; each opens offline.</p>
<ul>
$index</ul></body></html>
EOF
say "open $OUT/index.html (or $OUT/<service>/index.html) in a browser"

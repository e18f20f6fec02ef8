#!/usr/bin/env bash
# Vendor the web app's third-party JavaScript, pinned, from the npm registry. Run it by hand
# to upgrade (then commit the files it writes); nothing runs it at install or run time, and
# the web app has no build step:
#   src/sabio/web/static/vendor/markdown-it.js  markdown-it's own single-file ES module
#                                               (MIT), which renders answers
#   tests/vendor/axe.min.js                     axe-core (MPL-2.0), for the accessibility
#                                               tests only; never served by Sabio
# Needs npm (Debian: apt-get install npm). Usage: bash scripts/vendor-web.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MARKDOWN_IT=15.0.3
AXE_CORE=4.14.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "markdown-it@$MARKDOWN_IT" "axe-core@$AXE_CORE" >/dev/null)

mkdir -p "$work/md" "$work/axe" src/sabio/web/static/vendor tests/vendor
tar xzf "$work/markdown-it-$MARKDOWN_IT.tgz" -C "$work/md"
tar xzf "$work/axe-core-$AXE_CORE.tgz" -C "$work/axe"

# The browser build bundles markdown-it's dependencies into one module; the source map
# it names is not vendored, so its comment goes.
{
    echo "// markdown-it $MARKDOWN_IT (MIT, see markdown-it.LICENSE), vendored by scripts/vendor-web.sh"
    grep -v '^//# sourceMappingURL=' "$work/md/package/dist/browser/markdown-it.esm.min.mjs"
} >src/sabio/web/static/vendor/markdown-it.js
cp "$work/md/package/LICENSE" src/sabio/web/static/vendor/markdown-it.LICENSE

cp "$work/axe/package/axe.min.js" tests/vendor/axe.min.js
cp "$work/axe/package/LICENSE" tests/vendor/axe-core.LICENSE
echo "vendored markdown-it $MARKDOWN_IT and axe-core $AXE_CORE"

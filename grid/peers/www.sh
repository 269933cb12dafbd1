#!/bin/sh
# The static site the grid's Apache and Caddy serve: /item/1..9 (64 bytes each, as the lab's items), / with its
# stylesheet (the push scenario), and the grid's browser page.
set -eu
www=/tmp/www
mkdir -p $www/item
for n in 1 2 3 4 5 6 7 8 9; do printf 'item %s %s' "$n" "$(printf '.%.0s' $(seq 57))" > $www/item/$n; done
printf 'body{color:#123}\n' > $www/style.css
printf '<!doctype html><link rel=stylesheet href=/style.css><p>grid\n' > $www/index.html
cp /opt/grid/peers/page.html $www/page.html

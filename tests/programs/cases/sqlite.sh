# sqlite3 creates a database file in /tmp: schema, inserts in a transaction,
# an index, joins, aggregates, a rollback, CSV import and export, an integrity
# check, and a second process reading the same file.
set -eu
T=$(mktemp -d /tmp/moat-case.XXXXXX)
trap 'cd /; rm -rf "$T"' EXIT
cd "$T"

printf 'id,name,city\n1,Ada,London\n2,Linus,Helsinki\n3,Grace,New York\n4,Ken,Murray Hill\n' >people.csv

sqlite3 test.db <<'EOF_SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, price REAL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items(id), amount INTEGER);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
  INSERT INTO items(name, qty, price) SELECT 'item' || i, i % 17, i * 0.25 FROM n;
INSERT INTO orders(item_id, amount) SELECT id, qty * 2 FROM items WHERE id % 3 = 0;
COMMIT;
CREATE INDEX items_qty ON items(qty);
BEGIN;
DELETE FROM items;
ROLLBACK;
.mode list
SELECT 'items', count(*), sum(qty), printf('%.2f', sum(price)) FROM items;
SELECT 'orders', count(*), sum(amount) FROM orders;
SELECT qty, count(*) FROM items GROUP BY qty ORDER BY qty LIMIT 5;
SELECT i.name, o.amount FROM orders o JOIN items i ON i.id = o.item_id ORDER BY o.amount DESC, i.id LIMIT 3;
SELECT name FROM items WHERE qty = 16 ORDER BY id LIMIT 3;
EXPLAIN QUERY PLAN SELECT * FROM items WHERE qty = 3;
UPDATE items SET price = price * 2 WHERE id <= 10;
SELECT 'updated', changes(), printf('%.2f', (SELECT sum(price) FROM items WHERE id <= 10));
.import --csv people.csv people_raw
CREATE TABLE people AS SELECT * FROM people_raw;
.headers on
.mode csv
SELECT * FROM people ORDER BY CAST(id AS INTEGER) DESC;
.headers off
.mode list
.tables
.schema items
PRAGMA integrity_check;
PRAGMA wal_checkpoint(TRUNCATE);
EOF_SQL
echo "sqlite3 exit $?"
sqlite3 -readonly test.db 'SELECT count(*) FROM items WHERE name LIKE "item9%";'
sqlite3 test.db 'SELECT * FROM no_such_table;' || echo "query on a missing table failed with status $?"
sqlite3 test.db .dump | grep -c '^INSERT INTO items'
sqlite3 -batch -csv test.db 'SELECT typeof(qty), typeof(price), typeof(name) FROM items LIMIT 1;'
ls

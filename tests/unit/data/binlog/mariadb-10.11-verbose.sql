-- How tests/unit/data/binlog/mariadb-10.11-verbose.txt was recorded (MariaDB 10.11.19,
-- server_id=7, gtid_domain_id=7, binlog_format=ROW, character_set_server=latin1), with
--   mariadb-binlog --defaults-extra-file=F --read-from-remote-server --host=127.0.0.1 \
--     --port=33999 --user=u --base64-output=DECODE-ROWS --verbose \
--     mysql-bin.000001 mysql-bin.000002 mysql-bin.000003
CREATE USER 'u'@'%' IDENTIFIED BY 'p@ss w''rd';
GRANT ALL ON *.* TO 'u'@'%';
CREATE DATABASE app;
CREATE TABLE app.types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, bi BIGINT, biu BIGINT UNSIGNED, iu INT UNSIGNED,
  f FLOAT, d DOUBLE, dec1 DECIMAL(10,2), dec2 DECIMAL(30,10),
  c CHAR(5), vc VARCHAR(100), vl VARCHAR(20) CHARACTER SET latin1, txt TEXT, bl BLOB, vb VARBINARY(20), bn BINARY(4),
  dt DATETIME, dt6 DATETIME(6), ts TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL, dd DATE, tm TIME, tm6 TIME(6), yr YEAR,
  e ENUM('red','green','blue'), st SET('a','b','c'), bt BIT(5), j JSON, u UUID, i4 INET4, i6 INET6
) ENGINE=InnoDB;
CREATE TABLE app.k2 (a VARCHAR(10), b INT, v INT, PRIMARY KEY (a, b));
CREATE TABLE app.nopk (x INT, y VARCHAR(10));
INSERT INTO app.types VALUES (1, -5, 250, -300, 70000, -9000000000, 18446744073709551615, 4294967295,
  1.1, 3.141592653589793, 12.50, -12345678901234567890.0123456789,
  'ab', 'héllo ''quoted'' \\ back\nnew\ttab', 'café', REPEAT('x', 10), X'00FF0A27', X'DEADBEEF', X'0102',
  '2024-02-29 13:14:15', '2024-02-29 13:14:15.123456', '2024-03-01 00:00:01', '2024-03-01 00:00:01.5', '2024-02-29', '-838:59:59', '12:00:00.000001', 2024,
  'green', 'a,c', b'10101', '{"k": [1, 2, "x"]}', '123e4567-e89b-12d3-a456-426614174000', '10.0.0.1', '2001:db8::1');
INSERT INTO app.types (id) VALUES (2);
UPDATE app.types SET vc = 'changed', d = NULL WHERE id = 1;
DELETE FROM app.types WHERE id = 2;
INSERT INTO app.k2 VALUES ('x', 1, 10), ('y', 2, 20);
UPDATE app.k2 SET b = 3 WHERE a = 'y';
INSERT INTO app.nopk VALUES (1, 'a');
BEGIN; INSERT INTO app.k2 VALUES ('z', 9, 1); UPDATE app.k2 SET v = 2 WHERE a = 'z'; DELETE FROM app.k2 WHERE a='x'; COMMIT;
-- (the 4-byte emoji needs a utf8mb4 column; default-character-set=utf8mb4 from here on)
ALTER TABLE app.types MODIFY vc VARCHAR(100) CHARACTER SET utf8mb4;
UPDATE app.types SET vc = 'emoji 😀', txt = 'a\\x41b' WHERE id = 1;
FLUSH BINARY LOGS;
INSERT INTO app.k2 VALUES ('q', 5, 1);
SET SESSION gtid_domain_id=3;
INSERT INTO app.k2 VALUES ('r', 5, 1);
FLUSH BINARY LOGS;

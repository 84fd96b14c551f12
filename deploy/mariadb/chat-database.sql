-- The chat's database and its user, with exactly the privileges the chat needs: reading and
-- writing rows; creating and changing its tables and indexes (logic nodes run the migrations
-- themselves when they start); creating and running the stored procedures Orleans' cluster
-- membership calls. This is the one file that says so: deploy/local-cluster.sh, the tests'
-- MariaDB (tests/Chat.Testing, which embeds this file), bench/run.sh (through local-cluster.sh) and
-- compose (compose/mariadb-init/chat-database.sh) all run it, and deploy/README.md shows how to.
--
-- Run it as MariaDB's root after setting four variables, e.g.
--   { echo "SET @chat_database = 'chat', @chat_user = 'chat', @chat_host = '10.0.0.%', @chat_password = '…';"
--     cat deploy/mariadb/chat-database.sql; } | sudo mariadb
-- @chat_host is where the nodes connect from ('127.0.0.1', a pattern like '10.0.0.%'). Running it
-- again is safe: it keeps the data, sets the password anew and grants the same again.

EXECUTE IMMEDIATE IF(@chat_database REGEXP '^[A-Za-z0-9_]{1,64}$' AND @chat_user REGEXP '^[A-Za-z0-9_]{1,80}$'
                     AND @chat_host REGEXP '^[A-Za-z0-9_.:%-]{1,255}$' AND LENGTH(@chat_password) > 0,
  'DO 0',
  'SIGNAL SQLSTATE ''45000'' SET MESSAGE_TEXT = ''chat-database.sql: set @chat_database and @chat_user (letters, digits, _), @chat_host (an address or pattern) and @chat_password first''');

EXECUTE IMMEDIATE CONCAT('CREATE DATABASE IF NOT EXISTS `', @chat_database, '` CHARACTER SET utf8mb4');
EXECUTE IMMEDIATE CONCAT('CREATE USER IF NOT EXISTS ', QUOTE(@chat_user), '@', QUOTE(@chat_host), ' IDENTIFIED BY ', QUOTE(@chat_password));
EXECUTE IMMEDIATE CONCAT('ALTER USER ', QUOTE(@chat_user), '@', QUOTE(@chat_host), ' IDENTIFIED BY ', QUOTE(@chat_password));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES, CREATE ROUTINE, ALTER ROUTINE, EXECUTE ON `',
  @chat_database, '`.* TO ', QUOTE(@chat_user), '@', QUOTE(@chat_host));

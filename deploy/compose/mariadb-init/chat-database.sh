# shellcheck shell=bash
# Database `chat` and user `chat` with exactly the grants the chat needs. The mariadb image's
# entrypoint sources this file (it is not executable) on the first start only, when the data
# volume is empty, with the server running and docker_process_sql and mysql_error defined.
# Keep GRANTS in step with GRANTS in deploy/local-cluster.sh (and deploy/README.md, "MariaDB").
# CHAT_DB_HOSTS comes from compose.yaml: the address pattern of the compose network.

GRANTS="SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES, CREATE ROUTINE, ALTER ROUTINE, EXECUTE"

chat_password=$(</run/secrets/db-password)
# Quoted into SQL below: letters and digits only (make-secrets.sh makes hex).
[[ $chat_password =~ ^[A-Za-z0-9]+$ ]] || mysql_error "/run/secrets/db-password must be letters and digits only"
[[ ${CHAT_DB_HOSTS:-} =~ ^[0-9.%]+$ ]] || mysql_error "CHAT_DB_HOSTS must be an address pattern like 172.30.84.% (got '${CHAT_DB_HOSTS:-}')"

docker_process_sql <<SQL
CREATE DATABASE IF NOT EXISTS chat CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'chat'@'$CHAT_DB_HOSTS' IDENTIFIED BY '$chat_password';
GRANT $GRANTS ON chat.* TO 'chat'@'$CHAT_DB_HOSTS';
SQL
unset chat_password

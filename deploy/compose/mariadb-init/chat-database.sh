# shellcheck shell=bash
# Database `chat` and user `chat`, made by deploy/mariadb/chat-database.sql (compose.yaml mounts it
# at /etc/chat/chat-database.sql), the one bootstrap every place runs. The mariadb image's
# entrypoint sources this file (it is not executable) on the first start only, when the data
# volume is empty, with the server running and docker_process_sql and mysql_error defined.
# CHAT_DB_HOSTS comes from compose.yaml: the address pattern of the compose network.

chat_password=$(</run/secrets/db-password)
# Quoted into SQL below: letters and digits only (make-secrets.sh makes hex).
[[ $chat_password =~ ^[A-Za-z0-9]+$ ]] || mysql_error "/run/secrets/db-password must be letters and digits only"
[[ ${CHAT_DB_HOSTS:-} =~ ^[0-9.%]+$ ]] || mysql_error "CHAT_DB_HOSTS must be an address pattern like 172.30.84.% (got '${CHAT_DB_HOSTS:-}')"

{
  printf "SET @chat_database = 'chat', @chat_user = 'chat', @chat_host = '%s', @chat_password = '%s';\n" "$CHAT_DB_HOSTS" "$chat_password"
  cat /etc/chat/chat-database.sql
} | docker_process_sql
unset chat_password

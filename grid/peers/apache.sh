#!/bin/sh
# The grid's Apache httpd 2.4 (Debian's apache2, mod_http2): HTTP/1.1 and h2c on 8080 (H2Push on: GET / pushes
# /style.css), h2 and HTTP/1.1 over TLS on 8443 for Chromium. Static files only; runs unprivileged from /tmp.
set -eu
/opt/grid/peers/www.sh
www=/tmp/www
m=/usr/lib/apache2/modules
cat > /tmp/httpd.conf <<CONF
ServerRoot /tmp
ServerName grid-server
PidFile /tmp/httpd.pid
Mutex file:/tmp
ErrorLog /dev/stderr
LogLevel warn
LoadModule mpm_event_module $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule mime_module $m/mod_mime.so
LoadModule dir_module $m/mod_dir.so
LoadModule headers_module $m/mod_headers.so
LoadModule http2_module $m/mod_http2.so
LoadModule socache_shmcb_module $m/mod_socache_shmcb.so
LoadModule ssl_module $m/mod_ssl.so
TypesConfig /etc/mime.types
DocumentRoot $www
DirectoryIndex index.html
<Directory $www>
  Require all granted
</Directory>
Protocols h2c http/1.1
H2Push on
# / is served as index.html (DirectoryIndex): the push hangs on that file, as a preload Link and as a resource.
<Files "index.html">
  H2PushResource /style.css
  Header add Link "</style.css>;rel=preload;as=style"
</Files>
Listen 8080
Listen 8443
SSLSessionCache shmcb:/tmp/ssl_scache(512000)
<VirtualHost *:8443>
  Protocols h2 http/1.1
  SSLEngine on
  SSLCertificateFile /opt/grid/tls/cert.pem
  SSLCertificateKeyFile /opt/grid/tls/key.pem
</VirtualHost>
CONF
exec /usr/sbin/apache2 -f /tmp/httpd.conf -DFOREGROUND

#!/bin/sh
# Prints sizeof/offsetof of the information structures as the mingw-w64 ntifs.h declares them
# (clang reports each value in a deliberate type error), to compare with src/info/layout.rs.
set -eu
inc=/usr/share/mingw-w64/include
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo '#include <ntifs.h>'
  echo '#include <stddef.h>'
  n=0
  while read -r kind type field; do
    n=$((n + 1))
    if [ "$kind" = S ]; then e="sizeof($type)"; else e="offsetof($type, $field)"; fi
    echo "char (*v$n)[$e] = 1; /* $type $field */"
  done <<'LIST'
S FILE_DIRECTORY_INFORMATION
O FILE_DIRECTORY_INFORMATION FileName
S FILE_FULL_DIR_INFORMATION
O FILE_FULL_DIR_INFORMATION FileName
S FILE_BOTH_DIR_INFORMATION
O FILE_BOTH_DIR_INFORMATION FileName
S FILE_NAMES_INFORMATION
O FILE_NAMES_INFORMATION FileName
S FILE_ID_BOTH_DIR_INFORMATION
O FILE_ID_BOTH_DIR_INFORMATION FileId
O FILE_ID_BOTH_DIR_INFORMATION FileName
S FILE_ID_FULL_DIR_INFORMATION
O FILE_ID_FULL_DIR_INFORMATION FileId
O FILE_ID_FULL_DIR_INFORMATION FileName
S FILE_BASIC_INFORMATION
S FILE_STANDARD_INFORMATION
S FILE_NAME_INFORMATION
S FILE_ALL_INFORMATION
O FILE_ALL_INFORMATION NameInformation
S FILE_NETWORK_OPEN_INFORMATION
S FILE_STREAM_INFORMATION
O FILE_STREAM_INFORMATION StreamName
S FILE_FS_VOLUME_INFORMATION
O FILE_FS_VOLUME_INFORMATION VolumeLabel
S FILE_FS_SIZE_INFORMATION
S FILE_FS_ATTRIBUTE_INFORMATION
O FILE_FS_ATTRIBUTE_INFORMATION FileSystemName
S FILE_FS_FULL_SIZE_INFORMATION
S FILE_LINKS_INFORMATION
O FILE_LINK_ENTRY_INFORMATION FileName
LIST
} >"$tmp/l.c"
clang -target x86_64-pc-windows-gnu -I"$inc/ddk" -I"$inc" -fgnuc-version=4.2.1 -fsyntax-only \
  -ferror-limit=0 "$tmp/l.c" 2>&1 |
  sed -n "s/.*l.c:\([0-9]*\):.*'char (\*)\[\([0-9]*\)\]'.*/\1 \2/p" |
  while read -r line value; do
    echo "$(sed -n "${line}p" "$tmp/l.c" | sed 's/.*\/\* \(.*\) \*\//\1/') = $value"
  done

# shellcheck shell=sh
# netmend: downloads for the OpenWrt installer and launcher (inserted into both by netmend).
# Speaks the subset that uclient-fetch, busybox wget and GNU wget share, without -q: wget's
# own messages are what tell an HTTP error answer (a 404: no such build) from a mirror that
# cannot be reached (WAN down, DNS, TLS), and a router needs to know which.

# fetch URL FILE SECONDS: downloads URL into FILE. On failure it removes FILE, prints why on
# stdout and returns 2 when the server answered with an error ("HTTP 404", or "HTTP error"
# when wget does not say which), 1 when the server could not be reached or did not answer
# within SECONDS.
fetch() {
  fetch_errors="$2.wget-errors"
  rm -f "$2" "$fetch_errors"
  # -T only where wget has it (uclient-fetch; busybox built with FEATURE_WGET_TIMEOUT). A busybox
  # wget without that feature crashes or stops on -T: timeout(1) bounds it instead, and where
  # that is missing too the download has no time limit.
  if wget --help 2>&1 | grep -q -e '-T[ ,]'; then
    wget -T "$3" -O "$2" "$1" 2> "$fetch_errors"
  elif command -v timeout > /dev/null 2>&1; then
    timeout "$3" wget -O "$2" "$1" 2> "$fetch_errors"
  else
    wget -O "$2" "$1" 2> "$fetch_errors"
  fi
  fetch_status=$?
  if [ "$fetch_status" -eq 0 ] && [ -s "$2" ]; then
    rm -f "$fetch_errors"
    return 0
  fi
  # uclient-fetch: "HTTP error 404"; busybox: "server returned error: HTTP/1.1 404 Not Found";
  # GNU wget: "ERROR 404: Not Found."
  fetch_http=$(sed -n -e 's/^HTTP error \([0-9][0-9][0-9]\).*/\1/p' \
    -e 's/.*server returned error: HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' \
    -e 's/^ERROR \([0-9][0-9][0-9]\): .*/\1/p' "$fetch_errors" 2> /dev/null | head -n 1)
  # The last message wget printed (progress meters redraw with carriage returns).
  # shellcheck disable=SC2016 # sed's $ is the last line
  fetch_last=$(tr '\r' '\n' < "$fetch_errors" 2> /dev/null | sed -n '/[^[:space:]]/h; ${x;p;}')
  rm -f "$2" "$fetch_errors"
  if [ -n "$fetch_http" ]; then
    echo "HTTP $fetch_http"
    return 2
  fi
  case $fetch_status in
    0) echo "an empty answer"; return 2 ;;
    8) echo "HTTP error"; return 2 ;;
    124|143) echo "no answer within $3 s"; return 1 ;;
  esac
  echo "${fetch_last:-wget exit code $fetch_status}"
  return 1
}

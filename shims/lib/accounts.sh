# shellcheck shell=sh
# accounts.sh: account-file helpers shared by the darling-nix shims
# (dscl, dseditgroup, sysadminctl).  Sourced, never run.  POSIX sh only:
# it must work under dash and under macOS's bash 3.2, with BSD or GNU tools.
#
# Contract (docs/shims.md has the long form; darling_nix.accounts implements
# the same): files $DARLING_SHIM_ROOT/private/etc/{master.passwd,passwd,group},
# lock directory private/etc/.accounts.lock holding the writer's pid,
# whole-file rewrites through a temporary file (mktemp, same directory) and mv.
# A file with a line that is neither a comment nor an entry, a file that is
# not a regular file, and a private or private/etc that is a symbolic link
# are refused before anything is read or written.

LC_ALL=C
export LC_ALL

ACC_ROOT=${DARLING_SHIM_ROOT:-}
ACC_ROOT=${ACC_ROOT%/}
ACC_ETC=$ACC_ROOT/private/etc
ACC_MASTER=$ACC_ETC/master.passwd
ACC_PASSWD=$ACC_ETC/passwd
ACC_GROUP=$ACC_ETC/group
ACC_LOCK=$ACC_ETC/.accounts.lock
ACC_PROG=${0##*/}
ACC_LOCKED=0
ACC_BREAKING=0
ACC_TMP=
ACC_MAX_LINE=4096
ACC_NL='
'
# Passed to awk through the environment (awk -v would expand backslashes).
ACC_K=
ACC_V=
ACC_F=0
export ACC_K ACC_V ACC_F

acc_die() {
    _acc_status=$1
    shift
    printf '%s\n' "$*" >&2
    exit "$_acc_status"
}

# The programs the account shims run besides shell builtins.  A prefix that
# lacks one (a Darling built without file_cmds, text_cmds or awk) gets one
# line naming all that are missing, not a failure halfway through a change
# (without mkdir the lock loop would spin and report a timeout).
ACC_TOOLS='awk cat chmod head id ls mkdir mktemp mv rm rmdir sleep sort tr wc'
acc_need_tools() {
    _acc_missing=
    for _acc_t in $ACC_TOOLS; do
        command -v "$_acc_t" >/dev/null 2>&1 || _acc_missing="$_acc_missing $_acc_t"
    done
    [ -z "$_acc_missing" ] ||
        acc_die 1 "$ACC_PROG: missing programs:$_acc_missing (the darling-nix shims need them)"
}
acc_need_tools

# --- validation -------------------------------------------------------------

# Account names: [A-Za-z_][A-Za-z0-9_.-]*, at most 255 bytes.
acc_valid_name() {
    case $1 in
        '' | [!A-Za-z_]* | *[!A-Za-z0-9_.-]*) return 1 ;;
    esac
    [ "${#1}" -le 255 ]
}

# Free text fields (gecos, home, shell): no ':' and no newline.
acc_valid_text() {
    case $1 in
        *:* | *"$ACC_NL"*) return 1 ;;
    esac
    return 0
}

# Ids: decimal 0..2147483647.  On success ACC_ID holds the number without
# leading zeros.
acc_id() {
    case $1 in
        '' | *[!0-9]*) return 1 ;;
    esac
    ACC_ID=$1
    while :; do
        case $ACC_ID in
            0?*) ACC_ID=${ACC_ID#0} ;;
            *) break ;;
        esac
    done
    [ "${#ACC_ID}" -lt 10 ] && return 0
    [ "${#ACC_ID}" -eq 10 ] && [ "$ACC_ID" -le 2147483647 ]
}

# --- reading and rewriting one file -----------------------------------------

# acc_awk MODE FILE NF IDFIELDS
# A line is an entry when it has exactly NF colon-separated fields, a
# non-empty first field not starting with '#', and decimal digits in each of
# the IDFIELDS (comma list).  Every other line is passed through untouched.
# Modes: get (first entry named ACC_K), names, ids (field ACC_F of every
# entry), owner (name of the first entry whose field ACC_F equals ACC_K and
# whose name is not ACC_V), freeid (lowest id >= ACC_K not used in field
# ACC_F), set (replace the first entry named ACC_K by the line ACC_V, or
# append it), del (drop the first entry named ACC_K), unmember (drop ACC_K
# from field 4 of every entry).
acc_awk() {
    if [ ! -f "$2" ]; then
        case $1 in
            set) printf '%s\n' "$ACC_V" ;;
            freeid) printf '%s\n' "$ACC_K" ;;
        esac
        return 0
    fi
    awk -F: -v mode="$1" -v nf="$3" -v idf="$4" '
    function entry(   i, n, a) {
        if (NF != nf || $1 == "" || substr($1, 1, 1) == "#") return 0
        n = split(idf, a, ",")
        for (i = 1; i <= n; i++)
            if ($(a[i]) !~ /^[0-9]+$/ || $(a[i]) + 0 > 2147483647) return 0
        return 1
    }
    BEGIN { k = ENVIRON["ACC_K"]; v = ENVIRON["ACC_V"]; f = ENVIRON["ACC_F"] + 0; done = 0 }
    {
        e = entry()
        if (mode == "get") { if (e && $1 == k) { print; exit } next }
        if (mode == "names") { if (e) print $1; next }
        if (mode == "ids") { if (e) print $f; next }
        if (mode == "owner") { if (e && $f + 0 == k + 0 && $1 != v) { print $1; exit } next }
        if (mode == "freeid") { if (e) used[$f + 0] = 1; next }
        if (e && !done && $1 == k && (mode == "set" || mode == "del")) {
            done = 1
            if (mode == "set") print v
            next
        }
        if (e && mode == "unmember" && index("," $4 ",", "," k ",")) {
            n = split($4, m, ","); out = ""
            for (i = 1; i <= n; i++) if (m[i] != k) out = out (out == "" ? "" : ",") m[i]
            print $1 ":" $2 ":" $3 ":" out
            next
        }
        print
    }
    END {
        if (mode == "set" && !done) print v
        if (mode == "freeid") { i = k + 0; while (i in used) i++; print i }
    }' "$2"
}

# acc_write MODE FILE NF IDFIELDS FILEMODE: rewrite FILE through a fresh
# temporary file in the same directory (mktemp: a random name, created
# exclusively, so nothing planted under a known name is written through),
# then mv it over FILE (which replaces FILE, never writes through it).
acc_write() {
    ACC_TMP=$(mktemp "${2%/*}/.${2##*/}.tmp.XXXXXXXX") ||
        acc_die 1 "$ACC_PROG: cannot create a temporary file next to $2"
    if acc_awk "$1" "$2" "$3" "$4" > "$ACC_TMP" && chmod "$5" "$ACC_TMP" &&
        mv -f "$ACC_TMP" "$2"; then
        ACC_TMP=
        return 0
    fi
    rm -f "$ACC_TMP"
    ACC_TMP=
    acc_die 1 "$ACC_PROG: cannot update $2"
}

# --- checking the files -------------------------------------------------------

# acc_check FILE NF IDFIELDS IDNAMES: refuse (exit 1, naming FILE:LINE) a
# FILE that is a link or not a regular file, or that has a line that is
# neither a comment (blank, or starting with #) nor an entry: NF fields, a
# valid name, decimal ids (a leading - allowed: macOS's nobody is -2) of at
# most 10 digits, no NUL byte, at most ACC_MAX_LINE bytes.  The same rules
# as darling_nix.accountfiles (which also requires UTF-8).
acc_check() {
    [ -e "$1" ] || [ -L "$1" ] || return 0
    [ ! -L "$1" ] || acc_die 1 "$ACC_PROG: $1 is a symbolic link; refusing to follow it"
    [ -f "$1" ] || acc_die 1 "$ACC_PROG: $1 is not a regular file"
    [ -r "$1" ] || return 0
    # One read each (a writer may replace the file meanwhile): count the NULs.
    if [ "$(tr -cd '\000' < "$1" | wc -c)" -ne 0 ]; then
        # Swap NUL and newline: the newlines before the first NUL become NULs
        # on the first line.
        _acc_c=$(tr '\000\n' '\n\000' < "$1" | head -n 1 | tr -cd '\000' | wc -c)
        acc_die 1 "$1:$((_acc_c + 1)): the line has a NUL byte; fix or remove it (nothing was changed)"
    fi
    _acc_e=$(awk -F: -v nf="$2" -v idf="$3" -v idn="$4" -v max="$ACC_MAX_LINE" '
    function bad(why) {
        printf "%s:%d: the line %s; fix or remove it (nothing was changed)\n", FILENAME, NR, why
        exit 1
    }
    {
        if (length($0) > max) bad("is longer than " max " bytes")
        if ($0 ~ /^[ \t]*$/ || substr($0, 1, 1) == "#") next
        # C0 controls and DEL (a CR from CRLF line endings would stay in the last field)
        if ($0 ~ /[\001-\037\177]/) bad("has a control character (a CR from CRLF line endings?)")
        if (NF != nf) bad("has " NF " \047:\047-separated fields, expected " nf)
        if ($1 !~ /^[A-Za-z_][A-Za-z0-9_.-]*$/ || length($1) > 255)
            bad("has an invalid name \047" substr($1, 1, 40) "\047")
        n = split(idf, a, ","); split(idn, w, ",")
        for (i = 1; i <= n; i++) {
            v = $(a[i]); d = v; sub(/^-/, "", d)
            if (d !~ /^[0-9]+$/ || length(d) > 10 || v ~ /^-0/)
                bad("has a " w[i] " that is not a number: \047" substr(v, 1, 40) "\047")
        }
    }' "$1") || acc_die 1 "$_acc_e"
}

# acc_check_files: the directories on the way (the root is the caller's) and
# the three files.
acc_check_files() {
    for _acc_d in "$ACC_ROOT/private" "$ACC_ETC"; do
        [ ! -L "$_acc_d" ] || acc_die 1 "$ACC_PROG: $_acc_d is a symbolic link; refusing to follow it"
    done
    acc_check "$ACC_MASTER" 10 3,4 uid,gid
    acc_check "$ACC_PASSWD" 7 3,4 uid,gid
    acc_check "$ACC_GROUP" 4 3 gid
}

# --- lock ---------------------------------------------------------------------

acc_pid_dead() {
    _acc_e=$(kill -s 0 "$1" 2>&1) && return 1
    case $_acc_e in
        *"o such process"*) return 0 ;;
    esac
    return 1
}

acc_unlock() {
    [ "$ACC_BREAKING" = 0 ] || rmdir "$ACC_LOCK.break" 2>/dev/null
    ACC_BREAKING=0
    [ -z "$ACC_TMP" ] || rm -f "$ACC_TMP"
    ACC_TMP=
    [ "$ACC_LOCKED" = 1 ] || return 0
    ACC_LOCKED=0
    rm -f "$ACC_LOCK/pid"
    rmdir "$ACC_LOCK" 2>/dev/null
    return 0
}

# acc_owner: ACC_OWNER = the pid in the lock; empty when there is none yet,
# or it is not a pid, or pid is not a regular file (never read a FIFO).  A pid
# is 1-7 digits without a leading zero (Linux pids stop at 2^22): kill takes
# 0 as "my group" and refuses 20 digits, and either would look alive forever.
acc_owner() {
    ACC_OWNER=
    if [ -f "$ACC_LOCK/pid" ] && [ ! -L "$ACC_LOCK/pid" ]; then
        ACC_OWNER=$(cat "$ACC_LOCK/pid" 2>/dev/null) || ACC_OWNER=
    fi
    case $ACC_OWNER in
        '' | *[!0-9]* | 0* | ????????*) ACC_OWNER= ;;
    esac
}

# acc_seen_for SLOT PATH POLLS: true once the same directory PATH (same
# inode) has been there at more than POLLS consecutive calls, one per 0.1 s
# poll: it is then older than POLLS/10 s.  Python reads the age from the
# mtime; sh has no portable stat, and a watched age is never more than the
# real one, so the shims never break sooner than darling_nix.dirlock.
acc_seen_for() {
    _acc_i=$(ls -di "$2" 2>/dev/null | awk '{ print $1 }')
    eval "_acc_was=\${ACC_INODE_$1:-} _acc_k=\${ACC_POLLS_$1:-0}"
    if [ -n "$_acc_i" ] && [ "$_acc_i" = "$_acc_was" ]; then
        _acc_k=$((_acc_k + 1))
    else
        _acc_k=1
    fi
    eval "ACC_INODE_$1=\$_acc_i ACC_POLLS_$1=\$_acc_k"
    [ -n "$_acc_i" ] && [ "$_acc_k" -gt "$3" ]
}

# acc_break_stale: remove the lock if its holder is gone; true when removed.
# The protocol is darling_nix.dirlock's (docs/shims.md): a holder is gone
# when its pid is dead, or when the lock has had no pid for 2 s.  Breakers
# take the mutex .accounts.lock.break (mkdir), re-read the pid and act only
# if it is unchanged, so none renames a lock taken afresh meanwhile.  A
# mutex older than 1 s was left by a breaker that died: it is removed.
acc_break_stale() {
    acc_owner
    if [ -z "$ACC_OWNER" ]; then
        acc_seen_for lock "$ACC_LOCK" 20 || return 1
    elif ! acc_pid_dead "$ACC_OWNER"; then
        return 1
    fi
    if ! mkdir "$ACC_LOCK.break" 2>/dev/null; then
        if acc_seen_for break "$ACC_LOCK.break" 10; then
            # a dead breaker's directory, or anything else left under its name
            if [ -d "$ACC_LOCK.break" ] && [ ! -L "$ACC_LOCK.break" ]; then
                rmdir "$ACC_LOCK.break" 2>/dev/null
            else
                rm -f "$ACC_LOCK.break"
            fi
        fi
        return 1
    fi
    ACC_BREAKING=1
    _acc_seen=$ACC_OWNER
    acc_owner
    _acc_r=1
    if [ "$ACC_OWNER" = "$_acc_seen" ]; then
        _acc_s=$ACC_LOCK.stale.$$
        rm -rf "$_acc_s"
        mv "$ACC_LOCK" "$_acc_s" 2>/dev/null && rm -rf "$_acc_s" && _acc_r=0
    fi
    rmdir "$ACC_LOCK.break"
    ACC_BREAKING=0
    return $_acc_r
}

# Take the lock: mkdir is atomic.  Gives up after about 10 s (100 polls).
# The files are checked again once it is held: they may have changed.
acc_lock() {
    [ -d "$ACC_ETC" ] || acc_die 1 "$ACC_PROG: $ACC_ETC: No such file or directory"
    trap acc_unlock EXIT
    trap 'acc_unlock; exit 129' HUP
    trap 'acc_unlock; exit 130' INT
    trap 'acc_unlock; exit 143' TERM
    _acc_n=0
    until mkdir "$ACC_LOCK" 2>/dev/null; do
        _acc_n=$((_acc_n + 1))
        [ "$_acc_n" -le 100 ] ||
            acc_die 1 "$ACC_PROG: timed out waiting for the lock $ACC_LOCK"
        acc_break_stale && continue
        sleep 0.1
    done
    ACC_LOCKED=1
    printf '%s\n' "$$" > "$ACC_LOCK/pid"
    acc_check_files
}

# --- users --------------------------------------------------------------------

# acc_user_load NAME: fill U_NAME U_PW U_UID U_GID U_CLASS U_CHANGE U_EXPIRE
# U_GECOS U_HOME U_SHELL from master.passwd, else from passwd.  Returns 1
# (with defaults for a new user, U_UID and U_GID empty) when there is none.
acc_user_load() {
    ACC_K=$1
    U_NAME=$1 U_PW='*' U_CLASS='' U_CHANGE=0 U_EXPIRE=0
    _acc_l=$(acc_awk get "$ACC_MASTER" 10 3,4)
    if [ -n "$_acc_l" ]; then
        IFS=: read -r U_NAME U_PW U_UID U_GID U_CLASS U_CHANGE U_EXPIRE U_GECOS U_HOME U_SHELL <<EOF
$_acc_l
EOF
        return 0
    fi
    _acc_l=$(acc_awk get "$ACC_PASSWD" 7 3,4)
    if [ -n "$_acc_l" ]; then
        IFS=: read -r U_NAME _acc_x U_UID U_GID U_GECOS U_HOME U_SHELL <<EOF
$_acc_l
EOF
        return 0
    fi
    U_UID='' U_GID='' U_GECOS='' U_HOME=/var/empty U_SHELL=/usr/bin/false
    return 1
}

acc_user_exists() {
    ACC_K=$1
    [ -n "$(acc_awk get "$ACC_MASTER" 10 3,4)" ] ||
        [ -n "$(acc_awk get "$ACC_PASSWD" 7 3,4)" ]
}

# Lowest free uid >= $1 over master.passwd and passwd.
acc_free_uid() {
    ACC_K=$1 ACC_F=3
    { acc_awk ids "$ACC_MASTER" 10 3,4; acc_awk ids "$ACC_PASSWD" 7 3,4; } |
        ACC_K=$1 awk '{ used[$1 + 0] = 1 } END { i = ENVIRON["ACC_K"] + 0; while (i in used) i++; print i }'
}

# acc_user_save OLDNAME: write the U_* record over the entry OLDNAME (or add
# it).  Refuses, writing nothing, with ACC_WHY set: 2 uid taken, 3 name
# taken, 4 invalid field.  Call with the lock held.
acc_user_save() {
    ACC_WHY=
    if ! acc_valid_name "$U_NAME"; then
        ACC_WHY="invalid user name '$U_NAME'"; return 4
    fi
    for _acc_f in "$U_PW" "$U_CLASS" "$U_GECOS" "$U_HOME" "$U_SHELL"; do
        acc_valid_text "$_acc_f" || { ACC_WHY="invalid field '$_acc_f'"; return 4; }
    done
    for _acc_f in "$U_UID" "$U_GID" "$U_CHANGE" "$U_EXPIRE"; do
        acc_id "$_acc_f" || { ACC_WHY="invalid number '$_acc_f'"; return 4; }
    done
    if [ "$U_NAME" != "$1" ] && acc_user_exists "$U_NAME"; then
        ACC_WHY="user $U_NAME already exists"; return 3
    fi
    ACC_K=$U_UID ACC_V=$1 ACC_F=3
    _acc_o=$(acc_awk owner "$ACC_MASTER" 10 3,4)
    [ -n "$_acc_o" ] || _acc_o=$(acc_awk owner "$ACC_PASSWD" 7 3,4)
    if [ -n "$_acc_o" ]; then
        ACC_WHY="UniqueID $U_UID is already used by user $_acc_o"; return 2
    fi
    ACC_K=$1
    ACC_V=$U_NAME:$U_PW:$U_UID:$U_GID:$U_CLASS:$U_CHANGE:$U_EXPIRE:$U_GECOS:$U_HOME:$U_SHELL
    acc_write set "$ACC_MASTER" 10 3,4 0600
    ACC_V=$U_NAME:*:$U_UID:$U_GID:$U_GECOS:$U_HOME:$U_SHELL
    acc_write set "$ACC_PASSWD" 7 3,4 0644
}

# acc_user_delete NAME [unmember]: drop the user from master.passwd and
# passwd; with "unmember" also from every group's member list.
acc_user_delete() {
    ACC_K=$1
    acc_write del "$ACC_MASTER" 10 3,4 0600
    acc_write del "$ACC_PASSWD" 7 3,4 0644
    [ "${2:-}" != unmember ] || acc_write unmember "$ACC_GROUP" 4 3 0644
}

# --- groups -------------------------------------------------------------------

# acc_group_load NAME: fill G_NAME G_PW G_GID G_MEM (comma list); returns 1
# when there is no such group.
acc_group_load() {
    ACC_K=$1
    G_NAME=$1 G_PW='*' G_GID='' G_MEM=''
    _acc_l=$(acc_awk get "$ACC_GROUP" 4 3)
    [ -n "$_acc_l" ] || return 1
    IFS=: read -r G_NAME G_PW G_GID G_MEM <<EOF
$_acc_l
EOF
}

acc_free_gid() {
    ACC_K=$1 ACC_F=3
    acc_awk freeid "$ACC_GROUP" 4 3
}

# acc_group_save OLDNAME: like acc_user_save, for the G_* record.
acc_group_save() {
    ACC_WHY=
    if ! acc_valid_name "$G_NAME"; then
        ACC_WHY="invalid group name '$G_NAME'"; return 4
    fi
    acc_valid_text "$G_PW" || { ACC_WHY="invalid password field"; return 4; }
    acc_id "$G_GID" || { ACC_WHY="invalid number '$G_GID'"; return 4; }
    if [ -n "$G_MEM" ]; then
        _acc_ifs=$IFS; IFS=,; set -f
        for _acc_f in $G_MEM; do
            acc_valid_name "$_acc_f" || ACC_WHY="invalid member name '$_acc_f'"
        done
        IFS=$_acc_ifs; set +f
        [ -z "$ACC_WHY" ] || return 4
    fi
    ACC_K=$G_NAME
    if [ "$G_NAME" != "$1" ] && [ -n "$(acc_awk get "$ACC_GROUP" 4 3)" ]; then
        ACC_WHY="group $G_NAME already exists"; return 3
    fi
    ACC_K=$G_GID ACC_V=$1 ACC_F=3
    _acc_o=$(acc_awk owner "$ACC_GROUP" 4 3)
    if [ -n "$_acc_o" ]; then
        ACC_WHY="PrimaryGroupID $G_GID is already used by group $_acc_o"; return 2
    fi
    ACC_K=$1 ACC_V=$G_NAME:$G_PW:$G_GID:$G_MEM
    acc_write set "$ACC_GROUP" 4 3 0644
}

acc_group_delete() {
    ACC_K=$1
    acc_write del "$ACC_GROUP" 4 3 0644
}

# --- member lists (comma separated, as in the group file) ---------------------

acc_has_member() {
    case ,$1, in
        *,"$2",*) return 0 ;;
    esac
    return 1
}

# acc_add_member LIST NAME / acc_del_member LIST NAME: result in ACC_M.
acc_add_member() {
    ACC_M=$1
    acc_has_member "$1" "$2" || ACC_M=${1:+$1,}$2
}

acc_del_member() {
    ACC_M=
    _acc_ifs=$IFS; IFS=,; set -f
    for _acc_f in $1; do
        [ "$_acc_f" = "$2" ] || ACC_M=${ACC_M:+$ACC_M,}$_acc_f
    done
    IFS=$_acc_ifs; set +f
}

# acc_is_member USER GROUP: listed in the group, or the group is the user's
# primary group (as macOS membership checks count it).
acc_is_member() {
    acc_group_load "$2" || return 1
    acc_has_member "$G_MEM" "$1" && return 0
    acc_user_load "$1" && [ "$U_GID" = "$G_GID" ]
}

# Every account shim reads the files: check them as soon as this is sourced.
acc_check_files

# shellcheck shell=sh
# accounts.sh: account-file helpers shared by the darling-nix shims
# (dscl, dseditgroup, sysadminctl).  Sourced, never run.  POSIX sh only:
# it must work under dash and under macOS's bash 3.2, with BSD or GNU tools.
#
# Contract (docs/shims.md has the long form; darling_nix.accounts implements
# the same): files $DARLING_SHIM_ROOT/private/etc/{master.passwd,passwd,group},
# lock directory private/etc/.accounts.lock holding the writer's pid,
# whole-file rewrites through a temporary file and mv.

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
ACC_TOOLS='awk cat chmod id mkdir mv rm rmdir sleep sort tr'
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
        for (i = 1; i <= n; i++) if ($(a[i]) !~ /^[0-9]+$/) return 0
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

# acc_write MODE FILE NF IDFIELDS FILEMODE: rewrite FILE through
# .FILE.tmp.PID in the same directory, then mv it over FILE.
acc_write() {
    _acc_tmp=${2%/*}/.${2##*/}.tmp.$$
    if acc_awk "$1" "$2" "$3" "$4" > "$_acc_tmp" && chmod "$5" "$_acc_tmp" &&
        mv -f "$_acc_tmp" "$2"; then
        return 0
    fi
    rm -f "$_acc_tmp"
    acc_die 1 "$ACC_PROG: cannot update $2"
}

# --- lock ---------------------------------------------------------------------

acc_pid_dead() {
    case $1 in
        *[!0-9]*) return 0 ;;
    esac
    _acc_e=$(kill -s 0 "$1" 2>&1) && return 1
    case $_acc_e in
        *"o such process"*) return 0 ;;
    esac
    return 1
}

acc_unlock() {
    [ "$ACC_BREAKING" = 0 ] || rmdir "$ACC_LOCK.break" 2>/dev/null
    ACC_BREAKING=0
    [ "$ACC_LOCKED" = 1 ] || return 0
    ACC_LOCKED=0
    rm -f "$ACC_LOCK/pid" "$ACC_ETC/.master.passwd.tmp.$$" \
        "$ACC_ETC/.passwd.tmp.$$" "$ACC_ETC/.group.tmp.$$"
    rmdir "$ACC_LOCK" 2>/dev/null
    return 0
}

# acc_break_stale PID: remove the lock if it still names the dead PID.
# Breakers take .accounts.lock.break (mkdir) first, so that no two of them
# act on the same stale lock and none renames a lock taken afresh meanwhile.
acc_break_stale() {
    mkdir "$ACC_LOCK.break" 2>/dev/null || return 1
    ACC_BREAKING=1
    _acc_r=1
    if [ "$(cat "$ACC_LOCK/pid" 2>/dev/null)" = "$1" ]; then
        _acc_s=$ACC_LOCK.stale.$$
        rm -rf "$_acc_s"
        mv "$ACC_LOCK" "$_acc_s" 2>/dev/null && rm -rf "$_acc_s" && _acc_r=0
    fi
    rmdir "$ACC_LOCK.break"
    ACC_BREAKING=0
    return $_acc_r
}

# Take the lock: mkdir is atomic.  A lock whose pid file names a dead
# process is renamed away and removed.  Gives up after about 10 s.
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
        _acc_p=$(cat "$ACC_LOCK/pid" 2>/dev/null) || _acc_p=
        if [ -n "$_acc_p" ] && acc_pid_dead "$_acc_p" && acc_break_stale "$_acc_p"; then
            continue
        fi
        sleep 0.1
    done
    ACC_LOCKED=1
    printf '%s\n' "$$" > "$ACC_LOCK/pid"
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

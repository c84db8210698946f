#include <sqlite3.h>
#include "csqlite.h"

int bmlua_sqlite_journal_spill(int bytes) {
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, bytes);
}

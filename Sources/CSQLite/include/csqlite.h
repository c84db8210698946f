/*
 * csqlite.h — SQLite's process-wide settings, which sqlite3_config takes as C
 * varargs (Swift cannot call those) and only before SQLite starts.
 */
#ifndef CSQLITE_H
#define CSQLITE_H

/* sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, bytes): statement journals and
   savepoints' sub-journals stay in memory up to `bytes`, in one chunk of that
   size. SQLITE_OK (0), or SQLITE_MISUSE once SQLite has started. */
int bmlua_sqlite_journal_spill(int bytes);

#endif

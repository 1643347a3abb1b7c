/* reader.h - placeholder, being written. */
#ifndef BACKUPFS_READER_H
#define BACKUPFS_READER_H
#endif

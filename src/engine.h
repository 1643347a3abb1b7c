/* engine.h - placeholder, being written. */
#ifndef BACKUPFS_ENGINE_H
#define BACKUPFS_ENGINE_H
#endif

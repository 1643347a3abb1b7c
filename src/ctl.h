/* ctl.h - placeholder, being written. */
#ifndef BACKUPFS_CTL_H
#define BACKUPFS_CTL_H
#endif

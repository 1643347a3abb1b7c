/* snapview.h - placeholder */
#ifndef BACKUPFS_SNAPVIEW_H
#define BACKUPFS_SNAPVIEW_H
#endif

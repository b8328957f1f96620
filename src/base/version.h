/* The one place the version is written (main, `semid version`, meta.json). */
#ifndef SD_VERSION_H
#define SD_VERSION_H
#define SEMID_VERSION "0.1.0"
#endif

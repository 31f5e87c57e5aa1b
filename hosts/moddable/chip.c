/*
 * moorline: esp_restart() for XS (hosts/moddable/chip.ts), on the ESP32 only (the manifest
 * maps this file for esp32). The Moddable SDK (8.2.3) has no script module that restarts the
 * chip; a reboot request and the end of safe mode need one. esp_restart() does not return:
 * the next boot's esp_reset_reason() is ESP_RST_SW ("software").
 *
 * xs_moorline_restart(): restarts the chip.
 */
#include "xsmc.h"
#include "esp_system.h"

void xs_moorline_restart(xsMachine *the)
{
	(void)the;
	esp_restart();
}

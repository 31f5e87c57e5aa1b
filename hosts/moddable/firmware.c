/*
 * moorline: ESP-IDF's app rollback for XS (hosts/moddable/firmware.ts, firmware-store.ts), on
 * the ESP32 only (the manifest maps this file for esp32). The Moddable SDK (8.2.3) writes OTA
 * images but never confirms or rolls one back; with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE (our
 * sdkconfig) a new image boots ESP_OTA_IMG_PENDING_VERIFY and the boot loader rolls it back
 * when it resets before esp_ota_mark_app_valid_cancel_rollback().
 *
 * xs_moorline_ota_state(): the running partition's esp_ota_img_states_t, -1 when it has none.
 * xs_moorline_ota_rolled_back(): true when a partition was rolled back from.
 * xs_moorline_ota_activate(): boot the next update partition next (it checks the image).
 * xs_moorline_ota_mark_valid(): the running image stays.
 * xs_moorline_ota_rollback(): mark the running image invalid and reboot into the previous one.
 */
#include "xsmc.h"
#include "esp_ota_ops.h"
#include "esp_partition.h"

void xs_moorline_ota_state(xsMachine *the)
{
	esp_ota_img_states_t state;
	const esp_partition_t *running = esp_ota_get_running_partition();
	if ((NULL == running) || (ESP_OK != esp_ota_get_state_partition(running, &state)))
		xsmcSetInteger(xsResult, -1);
	else
		xsmcSetInteger(xsResult, (xsIntegerValue)state);
}

void xs_moorline_ota_rolled_back(xsMachine *the)
{
	xsmcSetBoolean(xsResult, NULL != esp_ota_get_last_invalid_partition());
}

void xs_moorline_ota_activate(xsMachine *the)
{
	const esp_partition_t *next = esp_ota_get_next_update_partition(NULL);
	esp_err_t err;
	if (NULL == next)
		xsUnknownError("no update partition");
	err = esp_ota_set_boot_partition(next);
	if (ESP_OK != err)
		xsUnknownError("esp_ota_set_boot_partition: %s", esp_err_to_name(err));
}

void xs_moorline_ota_mark_valid(xsMachine *the)
{
	esp_err_t err = esp_ota_mark_app_valid_cancel_rollback();
	if (ESP_OK != err)
		xsUnknownError("esp_ota_mark_app_valid_cancel_rollback: %s", esp_err_to_name(err));
}

void xs_moorline_ota_rollback(xsMachine *the)
{
	/* Returns only when there is no valid image to go back to. */
	esp_err_t err = esp_ota_mark_app_invalid_rollback_and_reboot();
	xsUnknownError("esp_ota_mark_app_invalid_rollback_and_reboot: %s", esp_err_to_name(err));
}

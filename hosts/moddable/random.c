/*
 * moorline: cryptographically strong random bytes for XS (hosts/moddable/random.ts).
 *
 * Why native code: the Moddable SDK (8.2.3) has no cryptographic random source for scripts.
 * Math.random and Math.irandom call c_rand(), which is the ESP32's hardware RNG on the chip but
 * libc rand() (unseeded, the same sequence on every run) in the desktop simulator; the `rng`
 * module of modules/crypt is RC4 keyed from 16 bytes of c_rand(). WebSocket masking keys and
 * Sec-WebSocket-Key must be unpredictable (RFC 6455 sections 5.3 and 10.3), so this module
 * asks each platform's own generator:
 *   ESP32:   esp_fill_random() (ESP-IDF esp_random.h): the hardware RNG, a true random source
 *            while the radio is on (WiFi is up before any connection is made).
 *   Linux:   getrandom() (glibc 2.25+): the kernel's CSPRNG.
 *   macOS:   arc4random_buf(): the kernel-seeded CSPRNG.
 *   Windows: rand_s(): RtlGenRandom.
 * Any other platform fails to compile, on purpose.
 *
 * xs_moorline_random_fill(buffer): fills an ArrayBuffer or a typed array in place.
 */
#if defined(__linux__) && !defined(ESP32)
	#define _DEFAULT_SOURCE 1
#endif
#if defined(_WIN32)
	#define _CRT_RAND_S 1
	#include <stdlib.h>
#endif

#include "xsmc.h"

#if defined(ESP32)
	#include "esp_random.h"
#elif defined(__APPLE__)
	#include <stdlib.h>
#elif defined(__linux__)
	#include <sys/random.h>
	#include <errno.h>
#elif defined(_WIN32)
	/* rand_s from <stdlib.h> above */
#else
	#error "moorline random.c: no cryptographic random source known for this platform"
#endif

static int fillRandom(uint8_t *bytes, size_t length)
{
#if defined(ESP32)
	esp_fill_random(bytes, length);
	return 1;
#elif defined(__APPLE__)
	arc4random_buf(bytes, length);
	return 1;
#elif defined(__linux__)
	while (length > 0) {
		ssize_t got = getrandom(bytes, length, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		bytes += got;
		length -= (size_t)got;
	}
	return 1;
#elif defined(_WIN32)
	while (length > 0) {
		unsigned int value;
		size_t i;
		if (rand_s(&value) != 0)
			return 0;
		for (i = 0; (i < sizeof(value)) && (length > 0); i++, length--)
			*bytes++ = (uint8_t)(value >> (8 * i));
	}
	return 1;
#endif
}

void xs_moorline_random_fill(xsMachine *the)
{
	void *data;
	xsUnsignedValue length;

	xsmcGetBufferWritable(xsArg(0), &data, &length);
	if (length && !fillRandom((uint8_t *)data, (size_t)length))
		xsUnknownError("no random bytes from the system");
}

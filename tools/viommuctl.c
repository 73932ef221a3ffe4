/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommuctl: prepares host devices for a VM served by viommu-vhost-user,
 * and gives them back, in the only safe order: a device goes to vfio-pci
 * only with its whole IOMMU group viable, is declared to the daemon with
 * its host's reserved regions, and goes back to its host driver only once
 * the daemon has released it and no process holds it any more. SR-IOV VFs
 * are created with driver autoprobe off, so that their MSI-X vector counts
 * are set before any driver binds. `watch` follows QEMU's QMP events and
 * removes the endpoints of devices QEMU has deleted.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "assign.h"
#include "hostsys/pci.h"
#include "sriov.h"
#include "state.h"
#include "tool.h"
#include "watch.h"

#define VERSION "0.2.0"

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: viommuctl [OPTION]... COMMAND [ARGUMENT]\n"
        "\n"
        "Host devices for a VM served by viommu-vhost-user: assigned and\n"
        "given back in the safe order, every change all or nothing.\n"
        "\n"
        "Commands:\n"
        "  groups             IOMMU groups, their devices and drivers, "
        "whether\n"
        "                     VFIO can use them, what is assigned\n"
        "  assign BDF         bind BDF to vfio-pci (its group must be viable)\n"
        "                     and declare it to the daemon\n"
        "      --endpoint=ID  its endpoint ID in the guest: a requester ID\n"
        "                     (0x18) or the guest's [SEG:]BUS:DEV.FN\n"
        "      --qemu-id=ID   QEMU's id for the device (for watch)\n"
        "      --group        take every device in the way in its group too\n"
        "  release BDF        remove its endpoint, wait until no process "
        "holds\n"
        "                     it, give it back its host driver\n"
        "      --group        release every assigned device of its group\n"
        "  sriov PF           create or remove VFs, set their MSI-X counts\n"
        "      --numvfs=N     VFs to have (the kernel changes it from 0 only)\n"
        "      --msix=C[,C]...  MSI-X vectors: one count for every VF, or one\n"
        "                     per VF, set before any driver binds\n"
        "  watch              follow QEMU's DEVICE_DELETED events and remove\n"
        "                     the deleted devices' endpoints\n"
        "      --qmp=PATH     QEMU's QMP socket\n"
        "      --device=QEMU-ID=ENDPOINT  an endpoint for a QEMU device id\n"
        "                     (assigned devices: their --qemu-id)\n"
        "\n"
        "Options:\n"
        "  --control-socket=PATH  the daemon's control socket\n"
        "  --json             one JSON object as the result (watch: one per\n"
        "                     line and event)\n"
        "  --timeout=SECONDS  longest wait for the kernel, the daemon and the\n"
        "                     VMM (default 10)\n"
        "  --state-file=PATH  what was taken from the host (default\n"
        "                     /run/viommuctl.json)\n"
        "  --sysfs-root=DIR   sysfs (default /sys)\n"
        "  --dev-root=DIR     device files (default /dev)\n"
        "  -h, --help         this text\n"
        "  --version          the version\n"
        "\n"
        "Exit status: 0 done, 1 refused (nothing changed), 2 usage,\n"
        "3 failed and put back, 4 failed and not all put back, 5 timed\n"
        "out waiting (nothing rebound), 6 the daemon or QEMU did not\n"
        "answer.\n");
}

/* An endpoint ID: a guest PCI address or a number. */
static bool parse_endpoint(const char *s, uint32_t *id)
{
    struct hostsys_pci_addr a;
    const char *end;
    uint64_t n;

    if (strchr(s, ':') != NULL) {
        if (!hostsys_pci_parse(s, &end, &a) || *end != '\0') {
            return false;
        }
        *id = (uint32_t)a.segment << 16 | a.bdf;
        return true;
    }
    if (!parse_number(s, UINT32_MAX, &n)) {
        return false;
    }
    *id = (uint32_t)n;
    return true;
}

static bool parse_msix(const char *s, struct sriov_args *a)
{
    uint64_t n;

    a->nr_msix = 0;
    while (a->nr_msix < 256) {
        char item[16];
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof(item)) {
            return false;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        if (!parse_number(item, 2048, &n) || n == 0) {
            return false; /* MSI-X tables hold 1 to 2048 vectors */
        }
        a->msix[a->nr_msix++] = (uint32_t)n;
        if (s[len] == '\0') {
            return true;
        }
        s += len + 1;
    }
    return false;
}

/* Options and the commands that take them. */
enum {
    OPT_JSON = 256,
    OPT_SYSFS,
    OPT_DEV,
    OPT_STATE,
    OPT_CONTROL,
    OPT_TIMEOUT,
    OPT_ENDPOINT,
    OPT_QEMU_ID,
    OPT_GROUP,
    OPT_NUMVFS,
    OPT_MSIX,
    OPT_QMP,
    OPT_DEVICE,
    OPT_VERSION,
};

#define MAX_MAPS 64

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"sysfs-root", required_argument, NULL, OPT_SYSFS},
        {"dev-root", required_argument, NULL, OPT_DEV},
        {"state-file", required_argument, NULL, OPT_STATE},
        {"control-socket", required_argument, NULL, OPT_CONTROL},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"qemu-id", required_argument, NULL, OPT_QEMU_ID},
        {"group", no_argument, NULL, OPT_GROUP},
        {"numvfs", required_argument, NULL, OPT_NUMVFS},
        {"msix", required_argument, NULL, OPT_MSIX},
        {"qmp", required_argument, NULL, OPT_QMP},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    /* Which command takes which option (the rest take every other). */
    static const struct {
        int opt;
        const char *name, *command;
    } owner[] = {
        {OPT_ENDPOINT, "endpoint", "assign"},
        {OPT_QEMU_ID, "qemu-id", "assign"},
        {OPT_NUMVFS, "numvfs", "sriov"},
        {OPT_MSIX, "msix", "sriov"},
        {OPT_QMP, "qmp", "watch"},
        {OPT_DEVICE, "device", "watch"},
    };
    static struct state state = {.lock_fd = -1};
    static struct tool t = {
        .sysfs = "/sys",
        .dev = "/dev",
        .state_path = "/run/viommuctl.json",
        .timeout_ms = 10000,
        .state = &state,
    };
    static struct watch_map maps[MAX_MAPS];
    static struct sriov_args sriov = {.numvfs = -1};
    struct assign_args assign = {.endpoint = -1};
    const char *qmp = NULL;
    bool whole_group = false, seen[OPT_VERSION + 1] = {false};
    unsigned nr_maps = 0;
    uint64_t n;
    uint32_t id;
    char bdf[HOSTSYS_PCI_NAME_LEN];
    int opt, status;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        double secs;
        if (opt > 0 && opt <= OPT_VERSION) {
            seen[opt] = true;
        }
        if (optarg != NULL && optarg[0] == '\0') {
            fprintf(stderr, "viommuctl: an option has an empty value\n");
            return EXIT_USAGE;
        }
        switch (opt) {
        case OPT_JSON:
            t.json = true;
            break;
        case OPT_SYSFS:
            t.sysfs = optarg;
            break;
        case OPT_DEV:
            t.dev = optarg;
            break;
        case OPT_STATE:
            t.state_path = optarg;
            break;
        case OPT_CONTROL:
            t.control = optarg;
            break;
        case OPT_TIMEOUT:
            secs = strtod(optarg, &end);
            if (*end != '\0' || end == optarg || !(secs > 0 && secs <= 3600)) {
                fprintf(stderr, "viommuctl: invalid --timeout: %s\n", optarg);
                return EXIT_USAGE;
            }
            t.timeout_ms = (int)(secs * 1000);
            break;
        case OPT_ENDPOINT:
            if (!parse_endpoint(optarg, &id)) {
                fprintf(stderr,
                        "viommuctl: invalid --endpoint: %s (a requester "
                        "ID, or [SEG:]BUS:DEV.FN)\n",
                        optarg);
                return EXIT_USAGE;
            }
            assign.endpoint = id;
            break;
        case OPT_QEMU_ID:
            if (strlen(optarg) == 0 ||
                strlen(optarg) >= sizeof(((struct entry *)0)->qemu_id)) {
                fprintf(stderr, "viommuctl: invalid --qemu-id\n");
                return EXIT_USAGE;
            }
            assign.qemu_id = optarg;
            break;
        case OPT_GROUP:
            whole_group = true;
            break;
        case OPT_NUMVFS:
            if (!parse_number(optarg, 65535, &n)) {
                fprintf(stderr, "viommuctl: invalid --numvfs: %s\n", optarg);
                return EXIT_USAGE;
            }
            sriov.numvfs = (int)n;
            break;
        case OPT_MSIX:
            if (!parse_msix(optarg, &sriov)) {
                fprintf(stderr,
                        "viommuctl: invalid --msix: %s (counts from 1 to "
                        "2048, comma-separated)\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_QMP:
            qmp = optarg;
            break;
        case OPT_DEVICE: {
            char *eq = strrchr(optarg, '=');
            if (nr_maps == MAX_MAPS || eq == NULL || eq == optarg ||
                !parse_endpoint(eq + 1, &id)) {
                fprintf(stderr,
                        "viommuctl: invalid or too many --device: %s "
                        "(QEMU-ID=ENDPOINT)\n",
                        optarg);
                return EXIT_USAGE;
            }
            *eq = '\0';
            maps[nr_maps++] = (struct watch_map){optarg, id};
            break;
        }
        case 'h':
            usage(stdout);
            return EXIT_DONE;
        case OPT_VERSION:
            printf("viommuctl %s\n", VERSION);
            return EXIT_DONE;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }

    const char *command = optind < argc ? argv[optind] : NULL;
    const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
    bool takes_arg = command != NULL && (strcmp(command, "assign") == 0 ||
                                         strcmp(command, "release") == 0 ||
                                         strcmp(command, "sriov") == 0);
    if (command == NULL || (strcmp(command, "groups") != 0 &&
                            strcmp(command, "watch") != 0 && !takes_arg)) {
        fprintf(stderr, "viommuctl: %s\n",
                command == NULL ? "no command" : "unknown command");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (optind + 1 + takes_arg != argc) {
        fprintf(stderr, "viommuctl %s: %s\n", command,
                takes_arg ? "takes one device address" : "takes no argument");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(owner) / sizeof(owner[0]); i++) {
        if (seen[owner[i].opt] && strcmp(command, owner[i].command) != 0) {
            fprintf(stderr, "viommuctl %s: --%s is an option of %s\n", command,
                    owner[i].name, owner[i].command);
            return EXIT_USAGE;
        }
    }
    if (whole_group && strcmp(command, "assign") != 0 &&
        strcmp(command, "release") != 0) {
        fprintf(stderr,
                "viommuctl %s: --group is an option of assign and "
                "release\n",
                command);
        return EXIT_USAGE;
    }
    if (takes_arg && !hostsys_pci_canonical(arg, bdf)) {
        fprintf(stderr, "viommuctl %s: invalid PCI address: %s\n", command,
                arg);
        return EXIT_USAGE;
    }

    t.command = command;
    t.out = json_object_new_object();
    t.steps = json_object_new_array();
    json_object_object_add(t.out, "command", json_object_new_string(command));
    json_object_object_add(t.out, "steps", t.steps);
    if (strcmp(command, "groups") == 0) {
        status = cmd_groups(&t);
    } else if (strcmp(command, "assign") == 0) {
        assign.bdf = bdf;
        assign.whole_group = whole_group;
        status = cmd_assign(&t, &assign);
    } else if (strcmp(command, "release") == 0) {
        status = cmd_release(&t, bdf, whole_group);
    } else if (strcmp(command, "sriov") == 0) {
        sriov.pf = bdf;
        status = cmd_sriov(&t, &sriov);
    } else {
        status = cmd_watch(&t, qmp, maps, nr_maps);
    }
    state_unlock(&t);
    json_object_put(t.out);
    free(t.undo);
    return status;
}

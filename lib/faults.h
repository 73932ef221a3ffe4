/* SPDX-License-Identifier: BSD-3-Clause */
/* Fault reports waiting for the event queue (R48-R52). */
#ifndef VIOMMU_FAULTS_H
#define VIOMMU_FAULTS_H

#include "state.h"

/* Queues a report (or counts it dropped when the queue is full). */
void faults_push(struct viommu *v, const struct fault *f);
/* Drops the pending reports of a removed endpoint: a report must name an
 * endpoint that exists (R50). */
void faults_forget_endpoint(struct viommu *v, uint32_t endpoint);
void faults_clear(struct viommu *v);

#endif

// Service Bus: the namespace (Entra ID only, TLS 1.2), the notifications topic, and one subscription
// per consumer (the gateway and the Functions fan-out), each with its filter rule, lock, delivery count,
// TTL and dead-lettering.

import { tagsType } from 'types.bicep'

@description('Location of the resources.')
param location string

@description('Tags put on every resource.')
param tags tagsType

@description('Name of the namespace.')
param namespaceName string

@description('Standard, or Premium for dedicated capacity.')
param sku 'Standard' | 'Premium'

@description('Messaging units when sku is Premium.')
@allowed([1, 2, 4, 8, 16])
param premiumCapacity int

@description('Name of the topic notifications are published to.')
param topicName string

@description('Subscriptions on the topic: name and SQL filter of each.')
param subscriptions subscriptionType[]

@description('Deliveries of a message before Service Bus dead-letters it.')
@minValue(1)
@maxValue(2000)
param maxDeliveryCount int

@description('How long a message waits for its consumer before it expires into the dead-letter queue (ISO 8601).')
param messageTimeToLive string

@description('How long a consumer holds a message lock (ISO 8601, at most 5 minutes).')
param lockDuration string

@description('Window in which a repeated messageId is dropped as a duplicate (ISO 8601).')
param duplicateDetectionWindow string

@description('A subscription and the SQL filter of its rule.')
type subscriptionType = {
  @description('Subscription name.')
  name: string

  @description('SQL filter: the messages this subscription receives (1=1: all).')
  filter: string
}

resource namespace 'Microsoft.ServiceBus/namespaces@2026-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: sku == 'Premium'
    ? {
        name: 'Premium'
        tier: 'Premium'
        capacity: premiumCapacity
      }
    : {
        name: 'Standard'
        tier: 'Standard'
      }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    premiumMessagingPartitions: sku == 'Premium' ? 1 : null
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2026-01-01' = {
  parent: namespace
  name: topicName
  properties: {
    defaultMessageTimeToLive: messageTimeToLive
    // The publisher sets messageId = notification id, so a retried publish is dropped here.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    maxSizeInMegabytes: sku == 'Premium' ? 81920 : 5120
    supportOrdering: true
    enableBatchedOperations: true
  }
}

resource subscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2026-01-01' = [
  for s in subscriptions: {
    parent: topic
    name: s.name
    properties: {
      lockDuration: lockDuration
      maxDeliveryCount: maxDeliveryCount
      defaultMessageTimeToLive: messageTimeToLive
      deadLetteringOnMessageExpiration: true
      deadLetteringOnFilterEvaluationExceptions: true
      enableBatchedOperations: true
      requiresSession: false
    }
  }
]

// Named $Default so it replaces the TrueFilter Service Bus adds to every new subscription.
resource rule 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2026-01-01' = [
  for (s, i) in subscriptions: {
    parent: subscription[i]
    name: '$Default'
    properties: {
      filterType: 'SqlFilter'
      sqlFilter: {
        sqlExpression: s.filter
      }
    }
  }
]

@description('Name of the namespace.')
output namespaceName string = namespace.name

@description('Namespace host for identity-based connections, e.g. name.servicebus.windows.net.')
output fullyQualifiedNamespace string = parseUri(namespace.properties.serviceBusEndpoint).host

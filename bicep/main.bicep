// Herald in Azure, in one resource group: Service Bus, Web PubSub, Storage, monitoring, a registry,
// the gateway on Container Apps and the Functions app on Flex Consumption. Every connection uses a
// managed identity; no key or connection string with a secret is created, passed or output.
// Deploy with `azd up`, or `az deployment group create` with main.bicepparam (docs/deploy.md).

targetScope = 'resourceGroup'

metadata description = 'Herald notification gateway: Service Bus, Web PubSub, Table Storage, Container Apps and Functions, identity-only.'

import { logLevelType } from 'modules/types.bicep'

// ---- Where ----

@description('Name of the environment (the azd environment name): tags every resource and seeds the unique resource names.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Location of every resource (default: the resource group\'s).')
param location string = resourceGroup().location

// ---- Service Bus ----

@description('Service Bus tier: Standard, or Premium for dedicated capacity.')
param serviceBusSku 'Standard' | 'Premium' = 'Standard'

@description('Premium messaging units (used when serviceBusSku is Premium).')
@allowed([1, 2, 4, 8, 16])
param serviceBusPremiumCapacity int = 1

@description('Deliveries of a notification before Service Bus dead-letters it (MaxDeliveryCount).')
@minValue(1)
@maxValue(2000)
param maxDeliveryCount int = 10

@description('How long a notification waits for a consumer before it expires into the dead-letter queue (ISO 8601).')
param messageTimeToLive string = 'P1D'

@description('How long a consumer holds a message lock (ISO 8601, at most PT5M).')
param lockDuration string = 'PT1M'

@description('Window in which Service Bus drops a repeated messageId (ISO 8601).')
param duplicateDetectionWindow string = 'PT10M'

@description('SQL filter of the gateway subscription (1=1: every notification).')
param gatewayFilter string = '1=1'

@description('SQL filter of the Functions fan-out subscription (1=1: every notification; 1=0: none).')
param fanoutFilter string = '1=1'

// ---- Web PubSub ----

@description('Web PubSub tier: Free_F1 (20 connections, for trials), Standard_S1 or Premium_P1.')
param webPubSubSku 'Free_F1' | 'Standard_S1' | 'Premium_P1' = 'Standard_S1'

@description('Web PubSub units (1000 concurrent connections each).')
@minValue(1)
@maxValue(100)
param webPubSubCapacity int = 1

@description('Web PubSub hub Herald sends to (HERALD_WEBPUBSUB_HUB).')
param webPubSubHub string = 'herald'

// ---- Storage and streams ----

@description('Replication of the storage account.')
param storageSku 'Standard_LRS' | 'Standard_ZRS' | 'Standard_GRS' | 'Standard_RAGRS' = 'Standard_LRS'

@description('How long a stream keeps a notification for resume and gap fill, in seconds (HERALD_RETENTION_SECONDS).')
@minValue(60)
@maxValue(2592000)
param retentionSeconds int = 86400

@description('How many notifications a stream keeps at most (HERALD_RETENTION_COUNT).')
@minValue(10)
@maxValue(1000000)
param retentionCount int = 10000

// ---- Auth and browsers ----

@description('JWKS URL of the identity provider that signs your users\' JWTs (HERALD_JWT_JWKS_URL).')
@minLength(1)
param jwtJwksUrl string

@description('Required issuer (iss) of application JWTs (HERALD_JWT_ISSUER).')
@minLength(1)
param jwtIssuer string

@description('Required audience (aud) of application JWTs (HERALD_JWT_AUDIENCE).')
@minLength(1)
param jwtAudience string

@description('Browser origins allowed to call Herald, comma-separated; empty: same origin only (HERALD_ALLOWED_ORIGINS).')
param allowedOrigins string = ''

@description('Log level of the gateway and the Functions app (HERALD_LOG_LEVEL).')
param logLevel logLevelType = 'info'

// ---- Gateway (Container Apps) ----

@description('Gateway image (azd sets it after the first deploy); empty: a placeholder until then.')
param gatewayImage string = ''

@description('Gateway replicas always running.')
@minValue(1)
@maxValue(1000)
param gatewayMinReplicas int = 1

@description('Most gateway replicas.')
@minValue(1)
@maxValue(1000)
param gatewayMaxReplicas int = 10

@description('vCPUs per gateway replica.')
param gatewayCpu string = '0.5'

@description('Memory per gateway replica (2 GiB per vCPU at most).')
param gatewayMemory string = '1Gi'

@description('Concurrent requests per gateway replica before another starts (open SSE and long-poll requests count).')
@minValue(1)
param gatewayConcurrentRequests int = 1000

@description('Messages waiting in the gateway subscription per replica before another starts.')
@minValue(1)
param gatewayBacklogMessages int = 100

// ---- Functions (Flex Consumption) ----

@description('Most Functions instances.')
@minValue(40)
@maxValue(1000)
param functionsMaximumInstanceCount int = 100

@description('Memory of each Functions instance.')
@allowed([512, 2048, 4096])
param functionsInstanceMemoryMB int = 2048

// ---- Monitoring ----

@description('Days Log Analytics keeps logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  application: 'herald'
}

// Fixed names the code expects by default (core/config.ts).
var topicName = 'notifications'
var gatewaySubscriptionName = 'gateway'
var fanoutSubscriptionName = 'fanout'
var streamsTableName = 'heraldstreams'
var gatewayPort = 3000

var names = {
  gatewayIdentity: 'id-gateway-${token}'
  functionsIdentity: 'id-functions-${token}'
  logAnalytics: 'log-${token}'
  applicationInsights: 'appi-${token}'
  serviceBus: 'sb-${token}'
  webPubSub: 'wps-${token}'
  storage: 'st${token}'
  registry: 'cr${token}'
  containerAppsEnvironment: 'cae-${token}'
  gateway: 'ca-gateway-${token}'
  functionsPlan: 'plan-${token}'
  functions: 'func-${token}'
  deploymentContainer: 'app-package-${token}'
}

resource gatewayIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: names.gatewayIdentity
  location: location
  tags: tags
}

resource functionsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: names.functionsIdentity
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    retentionInDays: logRetentionDays
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    tags: tags
    namespaceName: names.serviceBus
    sku: serviceBusSku
    premiumCapacity: serviceBusPremiumCapacity
    topicName: topicName
    subscriptions: [
      { name: gatewaySubscriptionName, filter: gatewayFilter }
      { name: fanoutSubscriptionName, filter: fanoutFilter }
    ]
    maxDeliveryCount: maxDeliveryCount
    messageTimeToLive: messageTimeToLive
    lockDuration: lockDuration
    duplicateDetectionWindow: duplicateDetectionWindow
  }
}

module webPubSub 'modules/webpubsub.bicep' = {
  name: 'webpubsub'
  params: {
    location: location
    tags: tags
    name: names.webPubSub
    sku: webPubSubSku
    capacity: webPubSubCapacity
    hubName: webPubSubHub
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    accountName: names.storage
    sku: storageSku
    streamsTableName: streamsTableName
    deploymentContainerName: names.deploymentContainer
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    location: location
    tags: tags
    name: names.registry
  }
}

module access 'modules/access.bicep' = {
  name: 'access'
  params: {
    serviceBusNamespaceName: names.serviceBus
    topicName: topicName
    gatewaySubscriptionName: gatewaySubscriptionName
    fanoutSubscriptionName: fanoutSubscriptionName
    webPubSubName: names.webPubSub
    storageAccountName: names.storage
    registryName: names.registry
    applicationInsightsName: names.applicationInsights
    gatewayIdentityId: gatewayIdentity.id
    gatewayPrincipalId: gatewayIdentity.properties.principalId
    functionsIdentityId: functionsIdentity.id
    functionsPrincipalId: functionsIdentity.properties.principalId
  }
  // Role assignments need the resources; the names above are fixed, so say so explicitly.
  dependsOn: [
    monitoring
    serviceBus
    webPubSub
    storage
    registry
  ]
}

var settings = {
  serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
  topic: topicName
  webPubSubEndpoint: webPubSub.outputs.endpoint
  webPubSubHub: webPubSub.outputs.hubName
  tableServiceUri: storage.outputs.tableServiceUri
  streamsTable: storage.outputs.streamsTableName
  retentionSeconds: retentionSeconds
  retentionCount: retentionCount
  jwtJwksUrl: jwtJwksUrl
  jwtIssuer: jwtIssuer
  jwtAudience: jwtAudience
  allowedOrigins: allowedOrigins
  logLevel: logLevel
}

module gateway 'modules/gateway.bicep' = {
  name: 'gateway'
  params: {
    location: location
    tags: tags
    environmentName: names.containerAppsEnvironment
    appName: names.gateway
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    identity: {
      id: gatewayIdentity.id
      clientId: gatewayIdentity.properties.clientId
    }
    registryServer: registry.outputs.loginServer
    image: gatewayImage
    port: gatewayPort
    minReplicas: gatewayMinReplicas
    maxReplicas: gatewayMaxReplicas
    cpu: gatewayCpu
    memory: gatewayMemory
    concurrentRequests: gatewayConcurrentRequests
    backlogMessages: gatewayBacklogMessages
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    subscriptionName: gatewaySubscriptionName
    settings: settings
  }
  // The app starts only once its identity may pull the image and reach the services.
  dependsOn: [
    access
  ]
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  params: {
    location: location
    tags: tags
    planName: names.functionsPlan
    appName: names.functions
    identity: {
      id: functionsIdentity.id
      clientId: functionsIdentity.properties.clientId
    }
    storageAccountName: storage.outputs.accountName
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    maximumInstanceCount: functionsMaximumInstanceCount
    instanceMemoryMB: functionsInstanceMemoryMB
    subscriptionName: fanoutSubscriptionName
    gatewayUrl: gateway.outputs.url
    settings: settings
  }
  dependsOn: [
    access
  ]
}

// Outputs are names and endpoints only. azd stores them in the environment; AZURE_CONTAINER_REGISTRY_ENDPOINT
// tells it where to push the gateway image.

@description('Registry azd pushes the gateway image to.')
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer

@description('Public URL of the gateway.')
output HERALD_PUBLIC_URL string = gateway.outputs.url

@description('URL of the Functions app.')
output FUNCTIONS_URL string = functions.outputs.url

@description('Service Bus namespace host.')
output HERALD_SERVICEBUS__fullyQualifiedNamespace string = serviceBus.outputs.fullyQualifiedNamespace

@description('Topic notifications are published to.')
output HERALD_TOPIC string = topicName

@description('Web PubSub endpoint.')
output HERALD_WEBPUBSUB__serviceUri string = webPubSub.outputs.endpoint

@description('Web PubSub hub.')
output HERALD_WEBPUBSUB_HUB string = webPubSub.outputs.hubName

@description('Table service URL of the stream store.')
output HERALD_STORAGE__tableServiceUri string = storage.outputs.tableServiceUri

@description('Name of the gateway Container App.')
output GATEWAY_APP_NAME string = gateway.outputs.appName

@description('Name of the Function App.')
output FUNCTIONS_APP_NAME string = functions.outputs.appName

// Who may do what: every role assignment Herald needs, in one place. Each app has its own user-assigned
// identity, granted only what it uses, at the narrowest scope that works. No keys anywhere.

@description('Name of the Service Bus namespace.')
param serviceBusNamespaceName string

@description('Name of the notifications topic.')
param topicName string

@description('Name of the subscription the gateway consumes.')
param gatewaySubscriptionName string

@description('Name of the subscription the Functions fan-out consumes.')
param fanoutSubscriptionName string

@description('Name of the Web PubSub resource.')
param webPubSubName string

@description('Name of the storage account.')
param storageAccountName string

@description('Name of the container registry.')
param registryName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

// Resource IDs name the role assignments (known before deployment); principal IDs are only known once
// the identities exist, so they stay out of names.

@description('Resource ID of the gateway\'s identity.')
param gatewayIdentityId string

@description('Principal (object) ID of the gateway\'s identity.')
param gatewayPrincipalId string

@description('Resource ID of the Functions app\'s identity.')
param functionsIdentityId string

@description('Principal (object) ID of the Functions app\'s identity.')
param functionsPrincipalId string

var identityIds = {
  gateway: gatewayIdentityId
  functions: functionsIdentityId
}
var principalIds = {
  gateway: gatewayPrincipalId
  functions: functionsPrincipalId
}

// Built-in role definition IDs (the same in every tenant).
var roles = {
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  webPubSubServiceOwner: '12cf5a90-567b-43ae-8102-96cf46c7d9b4'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource namespace 'Microsoft.ServiceBus/namespaces@2026-01-01' existing = {
  name: serviceBusNamespaceName

  resource topic 'topics' existing = {
    name: topicName

    resource gatewaySubscription 'subscriptions' existing = {
      name: gatewaySubscriptionName
    }

    resource fanoutSubscription 'subscriptions' existing = {
      name: fanoutSubscriptionName
    }
  }
}

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' existing = {
  name: webPubSubName
}

resource storage 'Microsoft.Storage/storageAccounts@2026-06-01' existing = {
  name: storageAccountName
}

resource registry 'Microsoft.ContainerRegistry/registries@2025-11-01' existing = {
  name: registryName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Both apps publish (POST /api/notifications and the publish function).
resource topicSenders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for app in ['gateway', 'functions']: {
    scope: namespace::topic
    name: guid(namespace::topic.id, identityIds[app], roles.serviceBusDataSender)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
      principalId: principalIds[app]
      principalType: 'ServicePrincipal'
    }
  }
]

// Owner on its own subscription only: receive and settle, plus Manage, which the Container Apps scale
// rule needs to read the backlog.
resource gatewaySubscriptionOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: namespace::topic::gatewaySubscription
  name: guid(namespace::topic::gatewaySubscription.id, gatewayIdentityId, roles.serviceBusDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Owner on its own subscription only: the trigger receives and settles, and the Functions scale
// controller reads the backlog.
resource fanoutSubscriptionOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: namespace::topic::fanoutSubscription
  name: guid(namespace::topic::fanoutSubscription.id, functionsIdentityId, roles.serviceBusDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Both send to the hub and issue client tokens (generateToken needs the owner role once keys are off).
resource webPubSubOwners 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for app in ['gateway', 'functions']: {
    scope: webPubSub
    name: guid(webPubSub.id, identityIds[app], roles.webPubSubServiceOwner)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.webPubSubServiceOwner)
      principalId: principalIds[app]
      principalType: 'ServicePrincipal'
    }
  }
]

// Streams for both; blobs for the Functions host and its deployment package.
resource storageGrants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for g in [
    { app: 'gateway', role: roles.storageTableDataContributor }
    { app: 'functions', role: roles.storageTableDataContributor }
    { app: 'functions', role: roles.storageBlobDataOwner }
  ]: {
    scope: storage
    name: guid(storage.id, identityIds[g.app], g.role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', g.role)
      principalId: principalIds[g.app]
      principalType: 'ServicePrincipal'
    }
  }
]

resource gatewayAcrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, gatewayIdentityId, roles.acrPull)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: gatewayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Application Insights has local auth off: the Functions host sends telemetry with its identity.
resource functionsTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: applicationInsights
  name: guid(applicationInsights.id, functionsIdentityId, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roles.monitoringMetricsPublisher
    )
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Web PubSub: the resource (Entra ID only) and Herald's hub. The hub has no event handlers:
// Herald uses it in serverless mode, sending through the REST API and issuing client tokens itself.

import { tagsType } from 'types.bicep'

@description('Location of the resources.')
param location string

@description('Tags put on every resource.')
param tags tagsType

@description('Name of the Web PubSub resource.')
param name string

@description('Pricing tier: Free_F1 (20 connections, no SLA), Standard_S1 or Premium_P1.')
param sku 'Free_F1' | 'Standard_S1' | 'Premium_P1'

@description('Units (1000 connections each on Standard and Premium).')
@minValue(1)
@maxValue(100)
param capacity int

@description('Name of the hub Herald sends to.')
param hubName string

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    capacity: sku == 'Free_F1' ? 1 : capacity
  }
  properties: {
    disableLocalAuth: true
    disableAadAuth: false
    publicNetworkAccess: 'Enabled'
    tls: {
      clientCertEnabled: false
    }
  }
}

resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    // Clients connect only with a token from Herald's negotiate.
    anonymousConnectPolicy: 'deny'
    eventHandlers: []
  }
}

@description('Name of the Web PubSub resource.')
output name string = webPubSub.name

@description('Endpoint for identity-based connections, e.g. https://name.webpubsub.azure.com.')
output endpoint string = 'https://${webPubSub.properties.hostName}'

@description('Name of the hub.')
output hubName string = hub.name
